//! Word expansion (`$V`, `${V:-x}`, `${V#pat}`, `${V/a/b}`, quotes, escapes) on arbitrary
//! text, in all three forms: one word, split words, and a heredoc body. The first byte
//! picks the escape character (`\` or the backtick). A few variables are set, one of them
//! holding spaces and quotes so splitting and pattern removal see them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata::dockerfile::expand;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let Ok(raw) = std::str::from_utf8(rest) else {
        return;
    };
    let escape = if first & 1 == 0 { '\\' } else { '`' };
    let lookup = |name: &str| match name {
        "A" => Some("a".to_owned()),
        "EMPTY" => Some(String::new()),
        "PATH" => Some("/usr/local/bin:/usr/bin:/bin".to_owned()),
        "SPACED" => Some(" x  'y' \"z\" *.? ".to_owned()),
        _ => None,
    };
    let _ = expand::word(raw, escape, &lookup);
    let _ = expand::words(raw, escape, &lookup);
    let _ = expand::heredoc(raw, &lookup);
});
