//! `.dockerignore` parsing and matching. The input is the file's text, then a NUL, then
//! paths one a line; each path is asked every question a context walk asks. The glob
//! matcher must stay fast on hostile patterns (`**/**/**/...`), which libFuzzer's
//! `-timeout` catches.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use strata::dockerfile::ignore::Ignore;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let (patterns, paths) = input
        .split_once('\0')
        .unwrap_or((input, "a/b/c.txt\nsrc\n"));
    let Ok(ignore) = Ignore::parse(patterns) else {
        return;
    };
    for path in paths.lines() {
        let path = Path::new(path);
        let _ = ignore.is_excluded(path);
        let _ = ignore.matches(path);
        let _ = ignore.may_reinclude_below(path);
        let _ = ignore.may_match_below(path);
    }
});
