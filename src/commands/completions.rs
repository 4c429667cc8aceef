//! `roster completions SHELL`: a completion script on stdout.

use clap::CommandFactory;

use super::Ctx;
use crate::cli::Cli;
use crate::{Error, Exit};

pub fn exec(shell: clap_complete::Shell, ctx: &mut Ctx<'_, '_>) -> Result<Exit, Error> {
    clap_complete::generate(shell, &mut Cli::command(), "roster", ctx.out());
    Ok(Exit::Success)
}
