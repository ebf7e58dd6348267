//! `--chmod` of COPY and ADD: an octal mode or a symbolic one, as BuildKit reads it.
//!
//! BuildKit's frontend takes the value as octal when it parses as such (up to `7777`);
//! otherwise as a symbolic mode in chmod(1) syntax (`go-w`, `u+x`, `u=rw,g=r,o=`,
//! `a+X`, `go=u-w`), which its copier applies to each copied entry's own mode with the
//! BSD `setmode` rules and no umask. [`Chmod::parse`] reads both; [`Chmod::apply`] gives
//! an entry's new permission bits and [`Chmod::created_dir_mode`] the mode of the
//! directories a COPY creates on its way to the destination.
//!
//! Two BSD rules that surprise: `X` only takes effect with `+` (`a=rX` is `a=r`), and
//! `s` or `t` for `o` alone are ignored.

use std::fmt;

use super::error::CopyError;

/// Set-user-id, set-group-id and sticky bits.
const SET_UID: u32 = 0o4000;
const SET_GID: u32 = 0o2000;
const STICKY: u32 = 0o1000;
/// The bits `=` clears when no class is named: all but the sticky bit.
const STANDARD: u32 = 0o6777;
const ALL_EXEC: u32 = 0o111;

/// A parsed `--chmod` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Chmod {
    /// An octal mode (permission, setuid, setgid and sticky bits): every copied entry
    /// gets exactly these bits.
    Octal(u32),
    /// A symbolic mode: changes to each entry's own bits.
    Symbolic {
        /// The value as written, for the history and the cache key.
        text: String,
        /// The changes, in order.
        ops: Vec<Op>,
    },
}

/// One change of a symbolic mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Set these bits.
    Set(u32),
    /// Clear these bits.
    Clear(u32),
    /// `+X`: set these bits if the entry is a directory or has an execute bit.
    SetIfExec(u32),
    /// `u`, `g` or `o` after the operator: copy that class's bits (as they are at this
    /// point) to the target classes.
    Copy {
        /// The shift of the class copied from (6, 3 or 0).
        from: u32,
        /// The shifts of the classes written.
        to: Vec<u32>,
        /// `+`, `-` or `=`.
        op: char,
    },
}

impl Chmod {
    /// Parses a `--chmod` value; the error says what is accepted.
    pub fn parse(value: &str) -> Result<Chmod, CopyError> {
        let bad = || CopyError::BadChmod(value.to_owned());
        if let Ok(mode) = u32::from_str_radix(value, 8) {
            return if mode <= 0o7777 && value.bytes().all(|b| b.is_ascii_digit()) {
                Ok(Chmod::Octal(mode))
            } else {
                Err(bad())
            };
        }
        // A value starting with a digit that is not octal is refused as one (BuildKit
        // says so rather than reading it symbolically).
        if value.is_empty() || value.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(bad());
        }
        let ops = parse_symbolic(value.as_bytes()).ok_or_else(bad)?;
        Ok(Chmod::Symbolic {
            text: value.to_owned(),
            ops,
        })
    }

    /// The permission bits (`& 0o7777`) an entry whose mode is `mode` gets.
    #[must_use]
    pub fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        match self {
            Chmod::Octal(bits) => *bits,
            Chmod::Symbolic { ops, .. } => {
                let original = mode & 0o7777;
                let mut bits = original;
                for op in ops {
                    match op {
                        Op::Set(b) => bits |= b,
                        Op::Clear(b) => bits &= !b,
                        Op::SetIfExec(b) => {
                            if is_dir || original & ALL_EXEC != 0 {
                                bits |= b;
                            }
                        }
                        Op::Copy { from, to, op } => {
                            let value = (bits >> from) & 0o7;
                            for shift in to {
                                if matches!(op, '-' | '=') {
                                    let clear = if *op == '=' { 0o7 } else { value };
                                    bits &= !(clear << shift);
                                }
                                if matches!(op, '+' | '=') {
                                    bits |= value << shift;
                                }
                            }
                        }
                    }
                }
                bits
            }
        }
    }

    /// The mode of a directory the COPY creates (the destination or a missing parent):
    /// an octal mode's permission bits, as BuildKit's `MkdirAll` gets them, and `0755`
    /// for a symbolic mode.
    #[must_use]
    pub fn created_dir_mode(&self) -> u32 {
        match self {
            Chmod::Octal(bits) => bits & 0o777,
            Chmod::Symbolic { .. } => 0o755,
        }
    }
}

impl fmt::Display for Chmod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Chmod::Octal(bits) => write!(f, "{bits:o}"),
            Chmod::Symbolic { text, .. } => f.write_str(text),
        }
    }
}

/// The classes named before an operator: `u` covers the user bits and setuid, `g` the
/// group bits and setgid, `o` the other bits, `a` all three.
fn who_bits(c: u8) -> Option<u32> {
    match c {
        b'u' => Some(SET_UID | 0o700),
        b'g' => Some(SET_GID | 0o070),
        b'o' => Some(0o007),
        b'a' => Some(STANDARD),
        _ => None,
    }
}

/// The clauses of a symbolic mode, `[ugoa]*([-+=]([rwxXst]*|[ugo]*))+` separated by
/// commas, as changes; `None` if it does not parse.
fn parse_symbolic(text: &[u8]) -> Option<Vec<Op>> {
    let mut ops = Vec::new();
    let mut i = 0;
    loop {
        let mut who = 0;
        while let Some(bits) = text.get(i).copied().and_then(who_bits) {
            who |= bits;
            i += 1;
        }
        // Each clause has at least one operator.
        let mut op = *text.get(i)?;
        loop {
            if !matches!(op, b'+' | b'-' | b'=') {
                return None;
            }
            i += 1;
            who &= !STICKY;
            let mut clause = Clause {
                who,
                op: op as char,
                perm: 0,
                exec_if: 0,
                assigned: false,
            };
            loop {
                match text.get(i) {
                    Some(b'r') => clause.perm |= 0o444,
                    Some(b'w') => clause.perm |= 0o222,
                    Some(b'x') => clause.perm |= ALL_EXEC,
                    Some(b'X') if op == b'+' => clause.exec_if = ALL_EXEC,
                    Some(b'X') => {}
                    Some(b's') if clause.who == 0 || clause.who & !0o007 != 0 => {
                        clause.perm |= SET_UID | SET_GID;
                    }
                    Some(b't') if clause.who == 0 || clause.who & !0o007 != 0 => {
                        clause.who |= STICKY;
                        clause.perm |= STICKY;
                    }
                    Some(b's' | b't') => {}
                    Some(&class @ (b'u' | b'g' | b'o')) => {
                        clause.flush(&mut ops);
                        let from = match class {
                            b'u' => 6,
                            b'g' => 3,
                            _ => 0,
                        };
                        let to = [(0o400, 6), (0o040, 3), (0o004, 0)]
                            .into_iter()
                            .filter(|&(bit, _)| clause.who == 0 || clause.who & bit != 0)
                            .map(|(_, shift)| shift)
                            .collect();
                        ops.push(Op::Copy {
                            from,
                            to,
                            op: clause.op,
                        });
                    }
                    _ => break,
                }
                i += 1;
            }
            clause.finish(&mut ops);
            who = clause.who;
            match text.get(i) {
                None => return Some(ops),
                Some(b',') => {
                    i += 1;
                    break;
                }
                Some(&next) => op = next,
            }
        }
    }
}

/// One operator of a clause while its permission letters are read.
struct Clause {
    who: u32,
    op: char,
    perm: u32,
    /// `+X` bits.
    exec_if: u32,
    /// Whether `=` has already cleared the target bits.
    assigned: bool,
}

impl Clause {
    /// Emits the letters read so far (before a class to copy, or at the end).
    fn flush(&mut self, ops: &mut Vec<Op>) {
        if self.perm != 0 {
            self.emit(ops);
            self.perm = 0;
        }
        if self.op == '=' {
            self.assigned = true;
        }
        self.emit_exec(ops);
    }

    /// Emits what is left at the end of the operator's letters; a bare `=` clears.
    fn finish(&mut self, ops: &mut Vec<Op>) {
        if self.perm != 0 || (self.op == '=' && !self.assigned) {
            self.assigned = true;
            self.emit(ops);
        }
        self.emit_exec(ops);
    }

    fn emit(&self, ops: &mut Vec<Op>) {
        let masked = |bits: u32| if self.who == 0 { bits } else { self.who & bits };
        match self.op {
            '=' => {
                ops.push(Op::Clear(if self.who == 0 { STANDARD } else { self.who }));
                ops.push(Op::Set(masked(self.perm)));
            }
            '+' => ops.push(Op::Set(masked(self.perm))),
            _ => ops.push(Op::Clear(masked(self.perm))),
        }
    }

    fn emit_exec(&mut self, ops: &mut Vec<Op>) {
        if self.exec_if != 0 {
            let bits = if self.who == 0 {
                self.exec_if
            } else {
                self.who & self.exec_if
            };
            ops.push(Op::SetIfExec(bits));
            self.exec_if = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(mode: &str, bits: u32, is_dir: bool) -> u32 {
        Chmod::parse(mode).unwrap().apply(bits, is_dir)
    }

    #[test]
    fn octal_modes_up_to_7777() {
        assert_eq!(Chmod::parse("755").unwrap(), Chmod::Octal(0o755));
        assert_eq!(Chmod::parse("0644").unwrap(), Chmod::Octal(0o644));
        assert_eq!(Chmod::parse("4755").unwrap(), Chmod::Octal(0o4755));
        assert_eq!(Chmod::parse("0").unwrap(), Chmod::Octal(0));
        assert_eq!(apply("0640", 0o100_777, false), 0o640);
        assert_eq!(Chmod::parse("4755").unwrap().created_dir_mode(), 0o755);
        for bad in ["", "10000", "17777", "64a", "8", "0o755", "+755", "-1"] {
            assert!(Chmod::parse(bad).is_err(), "{bad}");
        }
    }

    /// The cases of BuildKit's `testChmodNonOctal` (a 0666 file and a 0124 directory)
    /// and chmod(1) examples, checked against GNU chmod by hand.
    #[test]
    fn symbolic_modes_follow_chmod() {
        assert_eq!(apply("go-w", 0o666, false), 0o644);
        assert_eq!(apply("u=rw,g=r,o=r", 0o666, false), 0o644);
        assert_eq!(apply("a+X", 0o666, false), 0o666);
        assert_eq!(apply("a+X", 0o644, false) & 0o111, 0);
        assert_eq!(apply("a+X", 0o744, false), 0o755);
        assert_eq!(apply("go-w", 0o124, true), 0o104);
        assert_eq!(apply("u+rw,g+r,o-x,o+w", 0o124, true), 0o766);
        assert_eq!(apply("a+X", 0o124, true), 0o135);
        assert_eq!(apply("u+x", 0o644, false), 0o744);
        assert_eq!(apply("+x", 0o644, false), 0o755);
        assert_eq!(apply("go=", 0o777, false), 0o700);
        assert_eq!(apply("u=rwx,go=u-w", 0o000, false), 0o755);
        assert_eq!(apply("g=u", 0o640, false), 0o660);
        assert_eq!(apply("u+s,g+s", 0o755, false), 0o6755);
        assert_eq!(apply("+t", 0o755, true), 0o1755);
        assert_eq!(apply("o+t", 0o755, true), 0o755, "o+t is ignored");
        assert_eq!(apply("a=r", 0o4755, false), 0o444);
        assert_eq!(apply("=", 0o1755, true), 0o1000, "= keeps the sticky bit");
        assert_eq!(Chmod::parse("u+x").unwrap().created_dir_mode(), 0o755);
    }

    #[test]
    fn x_only_counts_after_plus() {
        assert_eq!(apply("a=rX", 0o755, false), 0o444);
        assert_eq!(apply("a-X", 0o755, false), 0o755);
    }

    #[test]
    fn malformed_symbolic_modes_are_refused() {
        for bad in [
            "u", "u+q", "a+x,", ",u+x", "u+x,,g+w", "z+x", "u+x g", "ugo",
        ] {
            assert!(Chmod::parse(bad).is_err(), "{bad}");
        }
        assert!(
            Chmod::parse("+").is_ok(),
            "an operator alone changes nothing"
        );
    }

    #[test]
    fn display_is_the_value_as_buildkit_records_it() {
        assert_eq!(Chmod::parse("0755").unwrap().to_string(), "755");
        assert_eq!(Chmod::parse("go-w").unwrap().to_string(), "go-w");
    }
}
