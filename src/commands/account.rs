//! A TeleCMI account ready to receive rows: credentials, connection settings and client.

use std::sync::Arc;

use super::Ctx;
use crate::cli::ConnectionArgs;
use crate::config::{self, ConnectionSettings, Profile, TelecmiCredentials};
use crate::provider::telecmi::{self, Telecmi};
use crate::Error;

pub struct Account {
    pub client: Arc<Telecmi>,
    pub app_id: String,
    pub settings: ConnectionSettings,
}

impl Account {
    /// The account the profile and the environment name.
    pub fn open(
        args: &ConnectionArgs,
        profile: &Profile,
        ctx: &Ctx<'_, '_>,
    ) -> Result<Account, Error> {
        Account::open_with(args, profile, &config::process_env, ctx)
    }

    /// As [`Account::open`], with credentials looked up in `env` instead of the process environment.
    pub fn open_with(
        args: &ConnectionArgs,
        profile: &Profile,
        env: config::Env,
        ctx: &Ctx<'_, '_>,
    ) -> Result<Account, Error> {
        let credentials = TelecmiCredentials::resolve(profile, env)?;
        let settings = args.resolve(profile, telecmi::DEFAULT_BASE_URL)?;
        let client = Telecmi::new(
            ctx.connect(&settings)?,
            credentials.app_id,
            credentials.secret,
        );
        Ok(Account {
            app_id: credentials.app_id.to_string(),
            client: Arc::new(client),
            settings,
        })
    }
}
