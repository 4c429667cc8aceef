//! `roster diff OLD NEW`: the change report between two roster exports.

use std::path::Path;

use super::{console_error, Ctx};
use crate::cli::DiffArgs;
use crate::plan::diff::{self, ChangeReport};
use crate::report::ReportError;
use crate::{Error, Exit};

pub fn exec(args: &DiffArgs, ctx: &mut Ctx<'_, '_>) -> Result<Exit, Error> {
    let phones = args.phones.resolve(&ctx.profile()?);
    let changes = diff::compare_paths(&args.old, &args.new, &phones)?;
    if let Some(path) = &args.output {
        write_change_file(&changes, path)?;
    }
    if args.json {
        ctx.json(&changes)?;
    } else if args.output.is_none() {
        changes.write_table(ctx.out()).map_err(console_error)?;
    }
    ctx.tell(format_args!(
        "{} -> {}: {}",
        args.old.display(),
        args.new.display(),
        changes.headline()
    ))?;
    Ok(Exit::Success)
}

/// `--output FILE` of `diff` and `export --diff-output`.
pub(super) fn write_change_file(changes: &impl ChangeReport, path: &Path) -> Result<(), Error> {
    changes.write_file(path).map_err(|source| {
        Error::Report(ReportError {
            path: path.to_path_buf(),
            source,
        })
    })
}
