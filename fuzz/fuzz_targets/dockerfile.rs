//! The Dockerfile parser on arbitrary text, then what a build does next with the result:
//! the global ARG scope (expanding every default), FROM lines expanded in it, the
//! `--mount` flags of RUN parsed, and the shell splitter lint uses on RUN commands.
//! Parse errors are fine; a panic is a bug.
#![no_main]

use std::collections::BTreeMap;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use strata::dockerfile::{self, args, expand, mount, Command, Instruction};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(df) = dockerfile::parse(Path::new("Dockerfile"), text) else {
        return;
    };
    let target = args::target_stage_name(&df, None);
    let host = strata::platform::Platform::host();
    let predefined = args::platform_args(&host, &host);
    let Ok(globals) = args::ArgScope::global(&df, &BTreeMap::new(), &target, predefined) else {
        return;
    };
    let lookup = |name: &str| globals.get(name).map(str::to_owned);
    for stage in &df.stages {
        let _ = expand::word(&stage.base, df.escape, &lookup);
        for instruction in &stage.instructions {
            if let Instruction::Run(run) = &instruction.value {
                for flag in run.flags.iter().filter(|f| f.name == "mount") {
                    let _ = mount::parse(&flag.value);
                }
                if let Command::Shell(script) = &run.command {
                    strata::lint::shell::split(script, 0, script.len(), df.escape);
                }
            }
        }
    }
});
