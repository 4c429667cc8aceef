//! Connecting to a provider: the resolved settings become one HTTP core (client, throttle, retry
//! policy) per account, and a TeleCMI account becomes a client ready to receive rows.

use std::sync::Arc;

use crate::cli::ConnectionArgs;
use crate::config::{self, ConnectionSettings, Profile, TelecmiCredentials};
use crate::execute::throttle::Throttle;
use crate::provider::telecmi::{self, Telecmi};
use crate::provider::Http;
use crate::Error;

/// The HTTP core for `settings`: one reused client, the run's throttle and retry policy.
pub fn connect(settings: &ConnectionSettings) -> Result<Http, Error> {
    let throttle = Arc::new(Throttle::new(
        settings.rate,
        settings.burst,
        settings.concurrency,
    ));
    Ok(Http::new(
        &settings.base_url,
        throttle,
        settings.retry,
        settings.timeouts,
    )?)
}

/// A TeleCMI account ready to receive rows.
pub struct Account {
    pub client: Arc<Telecmi>,
    pub app_id: String,
    pub settings: ConnectionSettings,
}

impl Account {
    /// The account the profile and the environment name.
    pub fn open(args: &ConnectionArgs, profile: &Profile) -> Result<Account, Error> {
        Account::open_with(args, profile, &config::process_env)
    }

    /// As [`Account::open`], with credentials looked up in `env` instead of the process environment.
    pub fn open_with(
        args: &ConnectionArgs,
        profile: &Profile,
        env: config::Env,
    ) -> Result<Account, Error> {
        let credentials = TelecmiCredentials::resolve(profile, env)?;
        let settings = args.resolve(profile, telecmi::DEFAULT_BASE_URL)?;
        let client = Telecmi::new(connect(&settings)?, credentials.app_id, credentials.secret);
        Ok(Account {
            app_id: credentials.app_id.to_string(),
            client: Arc::new(client),
            settings,
        })
    }
}
