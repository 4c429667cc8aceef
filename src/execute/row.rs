//! What one valid row does against TeleCMI: add, update or upsert, with the checks that keep a lost
//! response from creating a user twice.

use std::collections::HashMap;

use crate::model::{Action, Mode, Status, User};
use crate::phone::PhoneRule;
use crate::plan::sync::Planned;
use crate::provider::telecmi::{is_user_exists, is_user_limit, Telecmi};
use crate::provider::ApiError;

use super::RunControl;

/// The end of one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowEnd {
    pub action: Action,
    pub status: Status,
    pub http_status: Option<u16>,
    pub message: String,
    /// The message without row-specific values, to group rows failing for one cause.
    pub reason: Option<String>,
    /// Not final: failed for a cause outside the row (credentials, an unreachable or overloaded
    /// provider, an unknown outcome) or never sent; not journaled, so `--resume` tries it again.
    pub transient: bool,
}

impl RowEnd {
    fn ok(action: Action, message: &str) -> RowEnd {
        RowEnd {
            action,
            status: Status::Ok,
            http_status: Some(200),
            message: message.to_string(),
            reason: None,
            transient: false,
        }
    }

    fn failed(action: Action, error: &ApiError) -> RowEnd {
        let message = error.to_string();
        RowEnd {
            action,
            status: Status::Failed,
            http_status: error.http_status().filter(|s| *s != 0),
            reason: Some(message.clone()),
            message,
            transient: matches!(
                error,
                ApiError::Auth { .. }
                    | ApiError::Tls { .. }
                    | ApiError::Redirected { .. }
                    | ApiError::Unreachable { .. }
                    | ApiError::Unknown { .. }
                    | ApiError::Server { .. }
            ),
        }
    }

    /// Nothing to do: the row is already as wanted. `read` says whether a request found that out.
    fn skipped(message: &str, read: bool) -> RowEnd {
        RowEnd {
            action: Action::None,
            status: Status::Skipped,
            http_status: read.then_some(200),
            message: message.to_string(),
            reason: None,
            transient: false,
        }
    }

    fn refused(action: Action, message: String) -> RowEnd {
        RowEnd {
            action,
            status: Status::Failed,
            http_status: None,
            reason: Some(message.clone()),
            transient: false,
            message,
        }
    }
}

/// The requests one row made, by kind. Each write action has its own budget of `--max-attempts`
/// tries, spent across re-sends after lost responses; each read has a budget of its own.
#[derive(Debug, Default)]
pub struct Tries {
    pub add: u32,
    pub update: u32,
    pub reads: u32,
}

impl Tries {
    /// The write requests: what the report's `attempts` column counts.
    pub fn writes(&self) -> u32 {
        self.add + self.update
    }

    /// Every request, reads included.
    pub fn requests(&self) -> u32 {
        self.writes() + self.reads
    }
}

pub struct RowContext<'a> {
    pub client: &'a Telecmi,
    pub control: &'a RunControl,
    pub mode: Mode,
    /// A sync plan's decision per extension; without one, the mode decides.
    pub plan: Option<&'a HashMap<u32, Planned>>,
    /// The account's users as read before the run, when they were.
    pub known_users: Option<&'a HashMap<u32, User>>,
    /// How a phone number read back compares with the row's.
    pub phones: PhoneRule,
}

impl RowContext<'_> {
    /// Carry out one row; `tries` counts the requests it made.
    pub async fn apply(&self, user: &User, agent_id: &str, tries: &mut Tries) -> RowEnd {
        let end = match self.plan {
            Some(plan) => {
                self.apply_planned(plan.get(&user.extension), user, agent_id, tries)
                    .await
            }
            None => self.apply_mode(user, agent_id, tries).await,
        };
        if end.status != Status::Failed {
            self.control.note_reachable();
        }
        end
    }

    /// Carry out what a sync plan decided for this row.
    async fn apply_planned(
        &self,
        planned: Option<&Planned>,
        user: &User,
        agent_id: &str,
        tries: &mut Tries,
    ) -> RowEnd {
        match planned {
            Some(Planned::Create) => self.add(user, agent_id, false, tries).await,
            Some(Planned::Update(full)) => {
                match self.client.update(agent_id, full, &mut tries.update).await {
                    Ok(()) => RowEnd::ok(Action::Update, "updated"),
                    Err(error) => self.fail(Action::Update, &error),
                }
            }
            Some(Planned::Unchanged) => RowEnd::skipped("unchanged", false),
            Some(Planned::Invalid(message)) => RowEnd {
                action: Action::None,
                status: Status::Invalid,
                http_status: None,
                message: message.clone(),
                reason: Some(
                    "not in the account, and the row lacks the fields to create it".to_string(),
                ),
                transient: false,
            },
            None => RowEnd::skipped("not in the plan", false),
        }
    }

    async fn apply_mode(&self, user: &User, agent_id: &str, tries: &mut Tries) -> RowEnd {
        match self.mode {
            Mode::Add => self.add(user, agent_id, false, tries).await,
            Mode::Update => self.update(user, agent_id, tries).await,
            // An add that the account would refuse as existing is a request spent for nothing.
            Mode::Upsert if user.missing_required().is_empty() && !self.known_to_exist(user) => {
                self.add(user, agent_id, true, tries).await
            }
            Mode::Upsert => self.update(user, agent_id, tries).await,
        }
    }

    async fn add(&self, user: &User, agent_id: &str, upsert: bool, tries: &mut Tries) -> RowEnd {
        if let Some(reason) = self.control.user_limit() {
            if upsert {
                // No room for new users, but an existing one can still be updated.
                return self.update(user, agent_id, tries).await;
            }
            return RowEnd::refused(
                Action::Add,
                format!("not sent: the account refused an earlier add with \"{reason}\""),
            );
        }
        let mut outcome_unknown = false;
        // An add whose outcome was unknown and whose user is verifiably absent is safe to send
        // again, spending from the run's retry budget: its tries, re-sends included, stay within
        // the policy's `max_attempts`.
        let policy = *self.client.http().retry_policy();
        let throttle = self.client.http().throttle();
        let mut send = 0;
        while tries.add < policy.max_attempts {
            send += 1;
            if send > 1 {
                if !throttle.take_retry() {
                    break;
                }
                tokio::time::sleep(policy.backoff(send - 1)).await;
            }
            let error = match self.client.add(user, &mut tries.add).await {
                Ok(_) if outcome_unknown => {
                    return RowEnd::ok(Action::Add, "created (after a lost response)")
                }
                Ok(_) => return RowEnd::ok(Action::Add, "created"),
                Err(error) => error,
            };
            let unknown_now = matches!(error, ApiError::Unknown { .. });
            if is_user_exists(&error) && upsert && !outcome_unknown {
                return self.update(user, agent_id, tries).await;
            }
            if unknown_now || is_user_exists(&error) {
                // The add may have been carried out (now, or by a run that crashed before its
                // journal recorded it): read the user back before deciding.
                outcome_unknown |= unknown_now;
                match self.read_back(agent_id, tries).await {
                    Ok(Some(current)) => {
                        return self
                            .settle_existing(
                                user,
                                agent_id,
                                &current,
                                upsert,
                                outcome_unknown,
                                &error,
                                tries,
                            )
                            .await
                    }
                    Ok(None) if unknown_now => continue,
                    Ok(None) => return RowEnd::failed(Action::Add, &error),
                    Err(read_error) => return self.fail(Action::Add, &read_error),
                }
            }
            if is_user_limit(&error) {
                self.control.set_user_limit(error.to_string());
            }
            return self.fail(Action::Add, &error);
        }
        RowEnd {
            transient: true,
            ..RowEnd::refused(
                Action::Add,
                "outcome unknown: every add lost its response and the user is still absent"
                    .to_string(),
            )
        }
    }

    /// The user exists: created by our own add whose response was lost, by an earlier run, or by someone else.
    #[allow(clippy::too_many_arguments)]
    async fn settle_existing(
        &self,
        user: &User,
        agent_id: &str,
        current: &User,
        upsert: bool,
        after_lost_response: bool,
        error: &ApiError,
        tries: &mut Tries,
    ) -> RowEnd {
        match (
            user.agrees_with(current, &self.phones),
            upsert,
            after_lost_response,
        ) {
            (true, _, true) => RowEnd::ok(
                Action::Add,
                "created (confirmed by reading it back after a lost response)",
            ),
            (true, _, false) => RowEnd::skipped("already in the account with these details", true),
            (false, true, _) => self.update(user, agent_id, tries).await,
            (false, false, _) => RowEnd {
                message: format!("{error}: user {agent_id} is in the account with other details"),
                ..RowEnd::failed(Action::Add, error)
            },
        }
    }

    async fn update(&self, user: &User, agent_id: &str, tries: &mut Tries) -> RowEnd {
        // What the account holds: from the users read before the run, or read now when the row
        // leaves cells empty (a complete row is sent without a read).
        let current = match self.known_users {
            Some(users) => Some(users.get(&user.extension).cloned()),
            None if user.missing_required().is_empty() => None,
            None => match self.read_back(agent_id, tries).await {
                Ok(current) => Some(current),
                Err(error) => return self.fail(Action::Update, &error),
            },
        };
        // The API wants the whole user; cells left empty keep the account's values.
        let full = match current {
            None => user.clone(),
            Some(Some(current)) if user.matches(&current, &self.phones) => {
                return RowEnd::skipped("already up to date", self.known_users.is_none())
            }
            Some(Some(current)) => user.merged_over(&current),
            Some(None) => {
                let message = absent(agent_id, self.mode, user);
                return RowEnd {
                    reason: Some(message.replace(agent_id, "EXTENSION_APPID")),
                    transient: false,
                    ..RowEnd::refused(Action::Update, message)
                };
            }
        };
        match self.client.update(agent_id, &full, &mut tries.update).await {
            Ok(()) => RowEnd::ok(Action::Update, "updated"),
            Err(error) => self.fail(Action::Update, &error),
        }
    }

    fn known_to_exist(&self, user: &User) -> bool {
        self.known_users
            .is_some_and(|users| users.contains_key(&user.extension))
    }

    /// Read the row's user; each read has its own budget of tries.
    async fn read_back(&self, agent_id: &str, tries: &mut Tries) -> Result<Option<User>, ApiError> {
        let mut spent = 0;
        let read = self.client.get(agent_id, &mut spent).await;
        tries.reads += spent;
        read
    }

    fn fail(&self, action: Action, error: &ApiError) -> RowEnd {
        match error {
            error if error.stops_the_run() => self.control.abort(error.to_string()),
            ApiError::Unreachable { .. } => self.control.note_unreachable(error),
            _ => {}
        }
        let mut end = RowEnd::failed(action, error);
        if let ApiError::NotFound { .. } = error {
            end.reason = Some("no such user in the account".to_string());
        }
        end
    }
}

/// Why a row that updates cannot: its user is not in the account (and, in upsert mode, the row
/// lacks what creating it would take).
pub(super) fn absent(agent_id: &str, mode: Mode, user: &User) -> String {
    let mut message = format!("no user {agent_id} in the account");
    if mode == Mode::Upsert {
        message.push_str(&format!(
            "; to create it the row needs {}",
            user.missing_required().join(", ")
        ));
    }
    message
}
