//! Shell completions and man pages, generated from the clap definitions themselves
//! (clap_complete, clap_mangen), so they can never disagree with the parser.

use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;

use super::{Cli, CliError};

/// `strata completions SHELL`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    shell: Shell,
}

/// `strata man DIR`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Where to write `strata.1` and one `strata-COMMAND.1` per subcommand.
    dir: PathBuf,
}

/// Prints the completion script for a shell on standard output.
pub fn completions(args: &CompletionsArgs) -> Result<i32, CliError> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "strata", &mut std::io::stdout());
    Ok(0)
}

/// Writes the man pages (each written whole to a temp file, then renamed into place).
pub fn man(args: &ManArgs) -> Result<i32, CliError> {
    std::fs::create_dir_all(&args.dir)
        .map_err(CliError::io(format!("creating {}", args.dir.display())))?;
    let command = Cli::command();
    write_page(&args.dir, "strata", &command)?;
    let mut count = 1;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("strata-{}", sub.get_name());
        let page = sub.clone().name(name.clone());
        write_page(&args.dir, &name, &page)?;
        count += 1;
    }
    eprintln!("wrote {count} man pages to {}", args.dir.display());
    Ok(0)
}

fn write_page(dir: &Path, name: &str, command: &clap::Command) -> Result<(), CliError> {
    let path = dir.join(format!("{name}.1"));
    let mut text = Vec::new();
    clap_mangen::Man::new(command.clone())
        .render(&mut text)
        .map_err(CliError::io(format!("rendering {}", path.display())))?;
    let write = || -> std::io::Result<()> {
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        std::io::Write::write_all(&mut tmp, &text)?;
        tmp.persist(&path).map_err(|e| e.error)?;
        Ok(())
    };
    write().map_err(CliError::io(format!("writing {}", path.display())))
}
