//! Showing a plan (sync, migrate): the plan file, the terminal view, and whether to go on.

use std::path::PathBuf;

use serde::Serialize;

use super::rows::RunOutputs;
use super::{write_html_page, Ctx};
use crate::cli::{PlanArgs, RunArgs};
use crate::{report, Error};

/// Entries of each list a plan shows on the terminal.
pub const SHOWN: usize = 10;

/// Where the rest of a cut list is: the plan file, or the flag that writes one.
pub fn rest_of_list(args: &PlanArgs) -> String {
    match &args.plan_out {
        Some(path) => format!("all are in {}", path.display()),
        None => "--plan-out FILE writes them all".to_string(),
    }
}

/// What the terminal shows of a plan besides the plan file.
pub struct PlanView {
    pub description: String,
    /// Other files the plan wrote, by label.
    pub files: Vec<(&'static str, Option<PathBuf>)>,
    pub next_step: &'static str,
}

/// Write the plan file (and, when the command ends here, the plan's HTML page) and show the
/// plan; true when the command ends here (no `--apply`: with it, the page is the run's).
pub fn show<P: Serialize>(
    plan: &P,
    view: PlanView,
    args: &PlanArgs,
    run: &RunArgs,
    outputs: &mut RunOutputs,
    ctx: &mut Ctx<'_, '_>,
) -> Result<bool, Error> {
    if let Some(path) = &args.plan_out {
        report::write_json_atomically(path, plan)?;
    }
    let page = match outputs.html.take() {
        Some(file) if !args.apply => {
            let path = file.path().to_path_buf();
            write_html_page(file, plan, &rest_of_list(args))?;
            Some(path)
        }
        kept => {
            outputs.html = kept;
            None
        }
    };
    ctx.say(format_args!("{}", view.description.trim_end_matches('\n')))?;
    let files = [("plan", args.plan_out.clone())]
        .into_iter()
        .chain(view.files)
        .chain([("page", page)]);
    for (label, path) in files {
        if let Some(path) = path {
            ctx.say(format_args!("  {label}: {}", path.display()))?;
        }
    }
    if args.apply {
        return Ok(false);
    }
    if run.json {
        ctx.json(plan)?;
    }
    ctx.say(format_args!("{}", view.next_step))?;
    Ok(true)
}
