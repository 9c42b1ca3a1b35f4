//! The rollout-action worker: carries out confirmed actions on the rollout
//! repository, one at a time (one commit each, pushed, never forced), and
//! posts [`Event::ActionDone`] for each.

use super::{Inbox, Requests, serve};
use crate::app::Event;
use crate::rollout::action::{ActionRequest, PromoteChecks};
use crate::rollout::store::Store;
use std::sync::Arc;

/// Handle to the action worker: [`Requests::send`] an action; dropping it
/// stops the worker.
pub type ActionWorker = Requests<(ActionRequest, PromoteChecks)>;

/// Starts the worker on `store`.
pub fn spawn(store: Arc<Store>) -> (ActionWorker, Inbox) {
    serve(move |(request, checks)| act(Arc::clone(&store), request, checks))
}

/// Carries out one confirmed action: the event that says how it went.
pub async fn act(store: Arc<Store>, request: ActionRequest, checks: PromoteChecks) -> Event {
    let rollout = request.rollout.clone();
    let result = match store.act(&request, &checks).await {
        Ok((plan, commit)) => Ok((
            Box::new(plan),
            format!(
                "{} {}: commit {} {}",
                request.kind.key(),
                rollout,
                commit.id.chars().take(10).collect::<String>(),
                if commit.pushed {
                    "pushed"
                } else {
                    "(local repository, nothing to push)"
                }
            ),
        )),
        Err(e) => Err(e.to_string()),
    };
    Event::ActionDone { rollout, result }
}
