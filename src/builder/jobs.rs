//! Running a builder's independent pieces of work (the images of a family's wave, the
//! platforms of one image) on up to `jobs` threads at once.

use std::sync::Mutex;

/// Runs `work` on every item, up to `jobs` at once, each in a thread of its own: the
/// results in the items' order, or the first failure. Once one item failed no new item
/// starts; those already running finish.
pub(super) fn each<T, R, E>(
    items: &[T],
    jobs: usize,
    work: impl Fn(&T) -> Result<R, E> + Sync,
) -> Result<Vec<R>, E>
where
    T: Sync,
    R: Send,
    E: Send,
{
    let queue = Mutex::new(items.iter().enumerate());
    let done: Mutex<Vec<(usize, R)>> = Mutex::new(Vec::with_capacity(items.len()));
    let failure: Mutex<Option<E>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            scope.spawn(|| loop {
                let next = queue.lock().ok().and_then(|mut q| q.next());
                let Some((i, item)) = next else {
                    return;
                };
                match work(item) {
                    Ok(result) => {
                        if let Ok(mut done) = done.lock() {
                            done.push((i, result));
                        }
                    }
                    Err(e) => {
                        if let Ok(mut slot) = failure.lock() {
                            slot.get_or_insert(e);
                        }
                        if let Ok(mut q) = queue.lock() {
                            q.by_ref().for_each(drop);
                        }
                        return;
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    let mut done = done.into_inner().unwrap_or_default();
    done.sort_by_key(|(i, _)| *i);
    Ok(done.into_iter().map(|(_, result)| result).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_their_order_and_a_failure_stops_new_work() {
        let squares = each(&[1, 2, 3, 4, 5], 3, |n| Ok::<_, ()>(n * n)).unwrap();
        assert_eq!(squares, [1, 4, 9, 16, 25]);
        let started = std::sync::atomic::AtomicUsize::new(0);
        let failed = each(&[1, 2, 3, 4, 5, 6], 1, |&n| {
            started.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if n == 2 {
                Err(n)
            } else {
                Ok(n)
            }
        });
        assert_eq!(failed, Err(2));
        assert_eq!(started.into_inner(), 2, "nothing starts after a failure");
    }
}
