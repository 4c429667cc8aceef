//! `roster sandbox`: the built-in fake of both providers, until Ctrl-C.

use std::time::Duration;

use super::{console_error, wait_for_shutdown_signal, Ctx};
use crate::cli::SandboxArgs;
use crate::sandbox::{Faults, Sandbox, SandboxConfig, DEFAULT_SECRET, DEFAULT_TOKEN};
use crate::{Error, Exit};

pub async fn exec(args: &SandboxArgs, ctx: &mut Ctx<'_, '_>) -> Result<Exit, Error> {
    let config = SandboxConfig {
        app_id: args.app_id,
        secret: args.secret.clone(),
        token: args.token.clone(),
        seed_telecmi: args.seed_telecmi,
        seed_smartflo: args.seed_smartflo,
        user_limit: args.user_limit,
        normalise_phones: args.normalise_phones,
        faults: Faults {
            latency: Duration::from_millis(args.latency_ms),
            jitter: Duration::from_millis(args.jitter_ms),
            rate_limit: args.rate_limit,
            rate_schedule: args
                .rate_schedule
                .as_ref()
                .map(|schedule| schedule.0.clone())
                .unwrap_or_default(),
            max_fault_streak: args.max_fault_streak,
            error_rate: args.error_rate,
            throttle_rate: args.throttle_rate,
            retry_after_secs: args.retry_after,
            lost_add_rate: args.lost_add_rate,
            list_limit_cap: args.list_limit_cap,
        },
    };
    let sandbox = Sandbox::start(args.listen, config)
        .await
        .map_err(|source| Error::Io {
            context: format!("cannot listen on {}", args.listen),
            source,
        })?;
    // The URL alone on stdout, flushed: scripts read it to find a sandbox started on port 0.
    writeln!(ctx.out(), "{}", sandbox.base_url()).map_err(console_error)?;
    ctx.out().flush().map_err(console_error)?;
    let shown = |value: &str, default: &str| {
        if value == default {
            value.to_string()
        } else {
            "(as given)".to_string()
        }
    };
    ctx.tell(format_args!(
        "sandbox listening on {url} (TeleCMI and Smartflo paths); {} TeleCMI and {} Smartflo users seeded\n  \
         export ROSTER_BASE_URL={url} TELECMI_APP_ID={} TELECMI_SECRET={} SMARTFLO_TOKEN={}\n  stop with Ctrl-C",
        args.seed_telecmi,
        args.seed_smartflo,
        args.app_id,
        shown(&args.secret, DEFAULT_SECRET),
        shown(&args.token, DEFAULT_TOKEN),
        url = sandbox.base_url(),
    ))?;
    wait_for_shutdown_signal().await;
    sandbox.stop().await;
    Ok(Exit::Success)
}
