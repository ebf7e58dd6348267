//! [`Bounded`]: the reader under every `tar::Archive` strata opens on input it did not
//! write (layers, ADD archives, `strata load` archives, audit), refusing extended headers
//! larger than [`MAX_EXTENDED_HEADER`] before the `tar` crate buffers them.
//!
//! The `tar` crate reads a PAX extended header (`x`) or a GNU long name or long link
//! (`L`, `K`) whole into memory, however large its size field says it is: a 510 KB
//! `.tar.gz` holding a PAX record with a 512 MB path made it allocate 2.6 GB, and the
//! name then filled the error message. It has no option to bound them, and its raw mode
//! (which hands those members over unread) also stops applying the PAX `size` override,
//! so using it would mean reimplementing its PAX handling. Instead this reader follows
//! the archive's framing as the bytes pass through (every 512-byte header, the data and
//! padding it announces, a PAX `size` record, the extension blocks of a GNU sparse
//! header), exactly as `tar` 0.4 frames it, and fails the read that completes a header
//! announcing an over-large extended header. The framing costs a copy of each header
//! and of PAX records (at most 1 MiB); data passes untouched.
//!
//! The limit is Go's `archive/tar` one (`maxSpecialFileSize`, 1 MiB), which docker,
//! containerd and BuildKit apply to the same archives; `g` (global PAX) headers are
//! held to it too, as Go does.

use std::io::{self, Read};

/// The largest PAX extended header (`x`, `g`) or GNU long name or link (`L`, `K`)
/// accepted, in bytes: Go's `archive/tar` limit.
pub const MAX_EXTENDED_HEADER: u64 = 1 << 20;

/// The size of a tar block (every header, and the unit data is padded to).
const BLOCK: usize = 512;

/// The longest part of a name a message shows.
const SHOWN_NAME: usize = 200;

/// An extended header over [`MAX_EXTENDED_HEADER`], carried as the payload of the
/// `io::Error` a [`Bounded`] read fails with (see [`TooLarge::of`]).
#[derive(Clone, Debug, thiserror::Error)]
#[error(
    "tar member {member} is a {kind} of {size} bytes, over the {} MiB limit of extended headers",
    MAX_EXTENDED_HEADER >> 20
)]
pub struct TooLarge {
    /// The member's position in the archive, from 1, extension headers counted.
    pub member: u64,
    /// What kind of extended header it is (`PAX extended header`, `GNU long name`...).
    pub kind: &'static str,
    /// Its size field.
    pub size: u64,
}

impl TooLarge {
    /// The [`TooLarge`] an I/O error from a [`Bounded`] reader carries, if any.
    pub fn of(error: &io::Error) -> Option<&TooLarge> {
        error.get_ref().and_then(|e| e.downcast_ref::<TooLarge>())
    }
}

/// A tar stream framed as it is read, failing on over-large extended headers.
pub struct Bounded<R> {
    inner: R,
    /// The header (or GNU sparse extension) block being assembled.
    block: Box<[u8; BLOCK]>,
    filled: usize,
    at: At,
    /// Headers seen so far.
    member: u64,
    /// The records of the last PAX `x` header, until the member they describe.
    pax: Option<Vec<u8>>,
    /// The records of the `x` header whose data is passing now.
    capture: Option<Vec<u8>>,
    /// The refusal, repeated by every later read.
    failed: Option<TooLarge>,
}

/// Where the stream is in the archive's framing.
#[derive(Clone, Copy)]
enum At {
    /// In a header block.
    Header,
    /// In the extension blocks of a GNU sparse header, whose data (`size` bytes) follows.
    SparseExtension { size: u64 },
    /// In a member's data and padding: `left` bytes to go, of which `data` are data.
    Data { left: u64, data: u64 },
    /// Past the end-of-archive block or a header `tar` itself rejects: nothing more is
    /// framed, `tar` stops reading there.
    Done,
}

impl<R: Read> Bounded<R> {
    /// Frames the tar stream `inner` from its start.
    pub fn new(inner: R) -> Self {
        Bounded {
            inner,
            block: Box::new([0; BLOCK]),
            filled: 0,
            at: At::Header,
            member: 0,
            pax: None,
            capture: None,
            failed: None,
        }
    }

    /// The stream read through.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Follows the framing over `bytes`, the next bytes of the stream.
    fn frame(&mut self, mut bytes: &[u8]) -> Result<(), TooLarge> {
        while !bytes.is_empty() {
            match self.at {
                At::Done => return Ok(()),
                At::Header | At::SparseExtension { .. } => {
                    let n = (BLOCK - self.filled).min(bytes.len());
                    self.block[self.filled..self.filled + n].copy_from_slice(&bytes[..n]);
                    self.filled += n;
                    bytes = &bytes[n..];
                    if self.filled == BLOCK {
                        self.filled = 0;
                        self.at = match self.at {
                            At::SparseExtension { size } => self.sparse_block(size),
                            _ => self.header()?,
                        };
                    }
                }
                At::Data { left, data } => {
                    let n = usize::try_from(left).map_or(bytes.len(), |l| l.min(bytes.len()));
                    if let Some(records) = &mut self.capture {
                        let in_data = usize::try_from(data).map_or(n, |d| d.min(n));
                        records.extend_from_slice(&bytes[..in_data]);
                    }
                    bytes = &bytes[n..];
                    let (left, data) = (left - n as u64, data.saturating_sub(n as u64));
                    self.at = if left == 0 {
                        if let Some(records) = self.capture.take() {
                            self.pax = Some(records);
                        }
                        At::Header
                    } else {
                        At::Data { left, data }
                    };
                }
            }
        }
        Ok(())
    }

    /// The state after the header block just assembled, as `tar` 0.4 reads it.
    fn header(&mut self) -> Result<At, TooLarge> {
        let block = &*self.block;
        // `tar` stops at the first zero block, and fails on a bad checksum or size.
        if block.iter().all(|&b| b == 0) {
            return Ok(At::Done);
        }
        let header = tar::Header::from_byte_slice(block);
        let sum: u32 = block[..148]
            .iter()
            .chain(&block[156..])
            .map(|&b| u32::from(b))
            .sum::<u32>()
            + 8 * u32::from(b' ');
        let Ok(size) = header.entry_size() else {
            return Ok(At::Done);
        };
        if header.cksum().ok() != Some(sum) {
            return Ok(At::Done);
        }
        self.member += 1;
        let kind = header.entry_type();
        let recognised = header.as_ustar().is_some() || header.as_gnu().is_some();
        let extension = match kind.as_byte() {
            b'x' => Some("PAX extended header"),
            b'g' => Some("PAX global header"),
            b'L' => Some("GNU long name"),
            b'K' => Some("GNU long link name"),
            _ => None,
        };
        let size = if let Some(what) = extension {
            if size > MAX_EXTENDED_HEADER {
                return Err(TooLarge {
                    member: self.member,
                    kind: what,
                    size,
                });
            }
            // `tar` consumes `x`, `L` and `K` members of a ustar or GNU header itself
            // and hands any other as an entry, which takes the pending PAX records.
            if kind.is_pax_local_extensions() && recognised {
                if size == 0 {
                    self.pax = Some(Vec::new());
                } else {
                    self.capture = Some(Vec::with_capacity(size as usize));
                }
            } else if kind.is_pax_global_extensions() || !recognised {
                self.pax = None;
            }
            size
        } else {
            let pax_size = self.pax.take().and_then(|records| pax_size(&records));
            let size = pax_size.unwrap_or(size);
            if kind.is_gnu_sparse() && header.as_gnu().is_some_and(tar::GnuHeader::is_extended) {
                return Ok(At::SparseExtension { size });
            }
            size
        };
        Ok(data(size))
    }

    /// The state after one extension block of a GNU sparse header.
    fn sparse_block(&self, size: u64) -> At {
        // The `isextended` byte of a `GnuExtSparseHeader`: another block follows.
        if self.block[504] == 1 {
            At::SparseExtension { size }
        } else {
            data(size)
        }
    }
}

/// The state at the start of `size` bytes of member data, padded to a block.
fn data(size: u64) -> At {
    match size.checked_next_multiple_of(BLOCK as u64) {
        Some(0) => At::Header,
        Some(left) => At::Data { left, data: size },
        // `tar` fails on the overflow.
        None => At::Done,
    }
}

/// The `size` record of PAX `records`, as `tar` reads it (the first one; none if a
/// record before it is malformed).
fn pax_size(records: &[u8]) -> Option<u64> {
    for record in tar::PaxExtensions::new(records) {
        let record = record.ok()?;
        if record.key() == Ok("size") {
            return record.value().ok()?.parse().ok();
        }
    }
    None
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(refusal) = &self.failed {
            return Err(io::Error::new(io::ErrorKind::InvalidData, refusal.clone()));
        }
        let n = self.inner.read(buf)?;
        if let Err(refusal) = self.frame(&buf[..n]) {
            self.failed = Some(refusal.clone());
            return Err(io::Error::new(io::ErrorKind::InvalidData, refusal));
        }
        Ok(n)
    }
}

/// A `tar::Archive` over `inner` that refuses over-large extended headers: the way
/// strata opens every tar it did not write.
pub fn archive<R: Read>(inner: R) -> tar::Archive<Bounded<R>> {
    tar::Archive::new(Bounded::new(inner))
}

/// `name` for a message: its first 200 bytes (at a character boundary) and its length
/// when it is longer, so that a long name from an archive cannot flood an error.
pub fn shown(name: &str) -> String {
    if name.len() <= SHOWN_NAME {
        return name.to_owned();
    }
    let mut end = SHOWN_NAME;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &name[..end], name.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ustar header block for `name` of `kind` and `size`.
    fn header(name: &str, kind: tar::EntryType, size: u64) -> Vec<u8> {
        let mut header = tar::Header::new_ustar();
        header.set_path(name).unwrap();
        header.set_entry_type(kind);
        header.set_size(size);
        header.set_mode(0o644);
        header.set_cksum();
        header.as_bytes().to_vec()
    }

    /// `data` padded to a block.
    fn padded(data: &[u8]) -> Vec<u8> {
        let mut out = data.to_vec();
        out.resize(data.len().next_multiple_of(BLOCK), 0);
        out
    }

    /// The names `tar` reads from `bytes` through a [`Bounded`], fed `chunk` bytes a
    /// read, or the refusal.
    fn names(bytes: &[u8], chunk: usize) -> Result<Vec<String>, String> {
        struct Chunked<'a>(&'a [u8], usize);
        impl Read for Chunked<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(self.1).min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut archive = archive(Chunked(bytes, chunk));
        let mut names = Vec::new();
        for entry in archive.entries().map_err(|e| e.to_string())? {
            let entry = entry.map_err(|e| match TooLarge::of(&e) {
                Some(refusal) => refusal.to_string(),
                None => format!("not a refusal: {e}"),
            })?;
            names.push(String::from_utf8_lossy(&entry.path_bytes()).into_owned());
        }
        Ok(names)
    }

    /// A PAX `x` member holding `records`.
    fn pax(records: &[(&str, &str)]) -> Vec<u8> {
        let mut data = Vec::new();
        for (key, value) in records {
            let body = format!(" {key}={value}\n");
            let mut len = body.len() + 1;
            while format!("{len}{body}").len() != len {
                len += 1;
            }
            data.extend(format!("{len}{body}").bytes());
        }
        let mut out = header("PaxHeaders/x", tar::EntryType::XHeader, data.len() as u64);
        out.extend(padded(&data));
        out
    }

    #[test]
    fn ordinary_archives_pass_whatever_the_read_size() {
        let long = "d/".repeat(300) + "f";
        let mut tar = pax(&[("path", &long), ("size", "700")]);
        // The header says 5 bytes; the PAX size (700) wins, as in `tar`.
        tar.extend(header("short", tar::EntryType::Regular, 5));
        tar.extend(padded(&[b'x'; 700]));
        tar.extend(header("L", tar::EntryType::GNULongName, 9));
        tar.extend(padded(b"gnu/long\0"));
        // The long name is the next entry's.
        tar.extend(header("renamed", tar::EntryType::Regular, 3));
        tar.extend(padded(b"abc"));
        tar.extend(header("after", tar::EntryType::Regular, 0));
        tar.extend([0; 2 * BLOCK]);
        for chunk in [1, 7, 512, 1 << 16] {
            assert_eq!(
                names(&tar, chunk).unwrap(),
                [long.as_str(), "gnu/long", "after"],
                "{chunk}"
            );
        }
    }

    #[test]
    fn over_large_extended_headers_are_refused_before_their_data() {
        for (kind, what) in [
            (tar::EntryType::XHeader, "PAX extended header"),
            (tar::EntryType::XGlobalHeader, "PAX global header"),
            (tar::EntryType::GNULongName, "GNU long name"),
            (tar::EntryType::GNULongLink, "GNU long link name"),
        ] {
            let mut tar = header("ok", tar::EntryType::Regular, 2);
            tar.extend(padded(b"ok"));
            // Only the header: a read of the data would fail on the missing bytes.
            tar.extend(header("huge", kind, 512 << 20));
            assert_eq!(
                names(&tar, 4096).unwrap_err(),
                format!(
                    "tar member 2 is a {what} of 536870912 bytes, over the 1 MiB limit of \
                     extended headers"
                )
            );
        }
        // At the limit is fine.
        let mut tar = header("L", tar::EntryType::GNULongName, MAX_EXTENDED_HEADER);
        let mut name = vec![b'n'; MAX_EXTENDED_HEADER as usize - 1];
        name.push(0);
        tar.extend(padded(&name));
        tar.extend(header("x", tar::EntryType::Regular, 0));
        tar.extend([0; 2 * BLOCK]);
        assert_eq!(names(&tar, 1 << 16).unwrap()[0].len(), name.len() - 1);
    }

    #[test]
    fn gnu_sparse_extension_blocks_are_framed() {
        // Five 512-byte chunks, one every 1 KiB: four in the header, one in an
        // extension block, then the data. A huge `L` after it must still be seen.
        let mut gnu = tar::Header::new_gnu();
        gnu.set_path("sparse").unwrap();
        gnu.set_entry_type(tar::EntryType::GNUSparse);
        gnu.set_size(5 * BLOCK as u64);
        gnu.set_mode(0o644);
        let fields = gnu.as_gnu_mut().unwrap();
        for (i, chunk) in fields.sparse.iter_mut().enumerate() {
            chunk.set_offset(i as u64 * 1024);
            chunk.set_length(BLOCK as u64);
        }
        fields.set_real_size(4 * 1024 + BLOCK as u64);
        fields.set_is_extended(true);
        gnu.set_cksum();
        let mut extension = tar::GnuExtSparseHeader::new();
        extension.sparse[0].set_offset(4 * 1024);
        extension.sparse[0].set_length(BLOCK as u64);
        let mut tar = gnu.as_bytes().to_vec();
        tar.extend(extension.as_bytes());
        tar.extend([b's'; 5 * BLOCK]);
        let mut ok = tar.clone();
        ok.extend([0; 2 * BLOCK]);
        assert_eq!(names(&ok, 100).unwrap(), ["sparse"]);
        tar.extend(header("L", tar::EntryType::GNULongName, 2 << 20));
        assert!(names(&tar, 100)
            .unwrap_err()
            .contains("member 2 is a GNU long name"));
    }

    #[test]
    fn long_names_are_shortened_in_messages() {
        assert_eq!(shown("short"), "short");
        let long = "é".repeat(1000);
        let shortened = shown(&long);
        assert!(shortened.starts_with(&"é".repeat(100)), "{shortened}");
        assert!(shortened.ends_with("… (2000 bytes)"), "{shortened}");
    }
}
