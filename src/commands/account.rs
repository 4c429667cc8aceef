//! A TeleCMI account ready to receive rows: credentials, connection settings and client.

use std::sync::Arc;

use super::{wait_for_shutdown_signal, Ctx};
use crate::cli::ConnectionArgs;
use crate::config::{self, ConnectionSettings, Profile, TelecmiCredentials};
use crate::model::AccountUser;
use crate::provider::telecmi::{self, Telecmi};
use crate::{export, Error};

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

    /// Every user of the account, walked page by page (read-only); `what` names the stage in the
    /// progress line and the message when a signal stops the walk.
    pub async fn read_users(
        &self,
        what: &'static str,
        page_size: u64,
        ctx: &Ctx<'_, '_>,
    ) -> Result<Vec<AccountUser>, Error> {
        let progress = ctx.progress(what, None);
        let mut live = export::Collected::<AccountUser>::default();
        tokio::select! {
            walked = export::walk_telecmi(&self.client, &mut live, page_size, self.settings.concurrency, &progress) => { walked?; }
            () = wait_for_shutdown_signal() => return Err(Error::Interrupted(format!("{what}: stopped by a signal; nothing was changed"))),
        }
        progress.finish();
        Ok(live.users)
    }
}
