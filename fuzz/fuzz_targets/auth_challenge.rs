//! The registry's `WWW-Authenticate` challenge parser (Basic, Bearer with quoted and
//! escaped parameters) on arbitrary header text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata::registry::auth::Challenge;

fuzz_target!(|data: &[u8]| {
    // A header value reaches the parser only as text (`to_str` of the header).
    if let Ok(header) = std::str::from_utf8(data) {
        let _ = Challenge::parse(header);
    }
});
