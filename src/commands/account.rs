//! A TeleCMI account ready to receive rows: credentials, connection settings and client.

use std::collections::HashMap;
use std::sync::Arc;

use super::{wait_for_shutdown_signal, Ctx};
use crate::cli::{ConnectionArgs, DEFAULT_PAGE_SIZE};
use crate::config::{self, ConnectionSettings, Profile, TelecmiCredentials};
use crate::error::Chain;
use crate::model::User;
use crate::progress::Progress;
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

    /// The account's users by extension, walked page by page; `what` names the run in the
    /// progress line.
    pub async fn users_by_extension(
        &self,
        what: &'static str,
        ctx: &Ctx<'_, '_>,
    ) -> Result<HashMap<u32, User>, Error> {
        let users = self.read_users(what, DEFAULT_PAGE_SIZE, ctx).await?;
        Ok(users
            .into_iter()
            .map(|known| (known.extension, known))
            .collect())
    }

    /// [`Account::users_by_extension`] when walking the roster takes fewer requests than one
    /// read for each of `rows` would; one list call finds out. A walk that fails only costs the
    /// saving (the rows then read their users one by one), unless the failure stops the run
    /// (rejected credentials, TLS, a redirect): that comes back as the error.
    pub async fn users_if_cheaper(
        &self,
        rows: u64,
        ctx: &Ctx<'_, '_>,
    ) -> Result<Option<HashMap<u32, User>>, Error> {
        let walked = async {
            let total = self.client.list_page(1, 1, &mut 0).await?.total;
            if total.div_ceil(DEFAULT_PAGE_SIZE) >= rows {
                return Ok(None);
            }
            Ok(Some(
                self.users_by_extension("reading the account", ctx).await?,
            ))
        };
        match walked.await {
            Err(Error::Api(error)) if error.stops_the_run() => Err(Error::Api(error)),
            Err(interrupted @ Error::Interrupted(_)) => Err(interrupted),
            Err(error) => {
                tracing::warn!(
                    "could not read the account first ({}); each row reads its own user",
                    Chain(&error)
                );
                Ok(None)
            }
            found => found,
        }
    }

    /// Every user of the account, walked page by page (read-only); `what` names the stage in the
    /// progress line and the message when a signal stops the walk.
    pub async fn read_users(
        &self,
        what: &'static str,
        page_size: u64,
        ctx: &Ctx<'_, '_>,
    ) -> Result<Vec<User>, Error> {
        self.read_users_shown(what, &ctx.progress(what, None), page_size)
            .await
    }

    /// [`Account::read_users`], drawn on `progress`.
    pub async fn read_users_shown(
        &self,
        what: &'static str,
        progress: &Progress,
        page_size: u64,
    ) -> Result<Vec<User>, Error> {
        let mut live = export::Collected::<User>::default();
        tokio::select! {
            walked = export::walk_telecmi(&self.client, &mut live, page_size, self.settings.concurrency, progress) => { walked?; }
            () = wait_for_shutdown_signal() => return Err(Error::Interrupted(format!("{what}: stopped by a signal; nothing was changed"))),
        }
        progress.finish();
        Ok(live.users)
    }
}
