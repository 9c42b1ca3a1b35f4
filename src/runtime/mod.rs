//! The runtime: the workers that do the I/O, and the effect loop that carries
//! out what [`App::update`] asks for (docs/ARCHITECTURE.md, "Runtime").
//!
//! - One file per worker. Every worker posts its results through its own
//!   [`Outbox`]: room for one result, reserved *before* the work starts. So a
//!   worker has at most one result in flight, and while the app loop is away
//!   (an SSH session holds the terminal for an hour) nothing piles up and no
//!   work is done for nobody. Taking a result in is what frees the slot.
//! - [`Runtime::dispatch`] hands an event to the app and carries out every
//!   effect that comes back, and every effect of every event those effects
//!   yield (a worklist, until it is empty): no effect is ever dropped.
//!
//! The terminal (drawing, input, the shell handover, themes) stays in
//! [`crate::tui`]; it is reached through [`Frontend`].

pub mod actions;
pub mod githistory;
pub mod history;
pub mod refresh;
pub mod rollouts;
pub mod tunnels;
pub mod verify;

#[cfg(test)]
mod tests;

use crate::app::{App, Effect, Event};
use crate::fleet::Fleet;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use refresh::refresh_deadline;

/// Where a worker posts its results: room for one (see [`outbox`]).
pub struct Outbox(mpsc::Sender<Event>);

/// The app loop's end of an [`Outbox`]. Receiving a result frees the slot.
pub type Inbox = mpsc::Receiver<Event>;

/// The one back-pressure rule of every worker: a channel with room for one
/// result. A worker calls [`Outbox::reserve`] before it starts the work, so
/// it waits while its last result has not been taken in.
pub fn outbox() -> (Outbox, Inbox) {
    let (tx, rx) = mpsc::channel(1);
    (Outbox(tx), rx)
}

impl Outbox {
    /// Waits until the last result was taken in and holds the slot for the
    /// next one. `None`: the app loop is gone, the worker ends.
    pub async fn reserve(&self) -> Option<mpsc::Permit<'_, Event>> {
        self.0.reserve().await.ok()
    }
}

/// A worker that answers requests one at a time, each with one event, under
/// the rule of [`outbox`]: the next request is started only when the last
/// answer was taken in. Dropping it stops the worker.
pub struct Requests<R> {
    tx: mpsc::UnboundedSender<R>,
    task: JoinHandle<()>,
}

impl<R> Requests<R> {
    /// Queues a request (answered in order).
    pub fn send(&self, request: R) {
        let _ = self.tx.send(request);
    }
}

impl<R> Drop for Requests<R> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a [`Requests`] worker: `work` turns a request into its answer.
/// Each answer is computed in a task of its own, so a panic loses that
/// answer, not the worker.
pub fn serve<R, F, Fut>(work: F) -> (Requests<R>, Inbox)
where
    R: Send + 'static,
    F: FnMut(R) -> Fut + Send + 'static,
    Fut: Future<Output = Event> + Send + 'static,
{
    serve_with(|_: &R, _: &R| false, work)
}

/// Like [`serve`], but a request equal to one still waiting in the queue is
/// dropped: asking for the same thing at every refresh while an answer is
/// slow queues it once, not once per refresh.
pub fn serve_distinct<R, F, Fut>(work: F) -> (Requests<R>, Inbox)
where
    R: PartialEq + Send + 'static,
    F: FnMut(R) -> Fut + Send + 'static,
    Fut: Future<Output = Event> + Send + 'static,
{
    serve_with(|a: &R, b: &R| a == b, work)
}

fn serve_with<R, F, Fut>(
    same: impl Fn(&R, &R) -> bool + Send + Sync + 'static,
    mut work: F,
) -> (Requests<R>, Inbox)
where
    R: Send + 'static,
    F: FnMut(R) -> Fut + Send + 'static,
    Fut: Future<Output = Event> + Send + 'static,
{
    let (tx, mut requests) = mpsc::unbounded_channel::<R>();
    let (out, inbox) = outbox();
    let task = tokio::spawn(async move {
        let mut queue: VecDeque<R> = VecDeque::new();
        let take = |queue: &mut VecDeque<R>, r: R| {
            if !queue.iter().any(|q| same(q, &r)) {
                queue.push_back(r);
            }
        };
        loop {
            if queue.is_empty() {
                match requests.recv().await {
                    Some(r) => queue.push_back(r),
                    None => return, // the handle is gone
                }
            }
            let Some(permit) = out.reserve().await else {
                return; // the app loop is gone
            };
            // What was asked while the last answer waited to be taken in.
            while let Ok(r) = requests.try_recv() {
                take(&mut queue, r);
            }
            let Some(request) = queue.pop_front() else {
                continue;
            };
            if let Ok(event) = tokio::spawn(work(request)).await {
                permit.send(event);
            }
        }
    });
    (Requests { tx, task }, inbox)
}

/// What the effect loop needs from the terminal side.
pub trait Frontend {
    /// Hands the terminal to an SSH session on `device` (accepting the
    /// unknown host key with fingerprint `accept`) and takes it back; the
    /// event says how it went.
    fn shell(
        &mut self,
        app: &App,
        device: String,
        accept: Option<String>,
    ) -> impl Future<Output = Event>;

    /// Loads the theme `name` and draws with it from now on.
    fn load_theme(&mut self, name: &str) -> Result<(), String>;
}

/// Whether the console goes on after an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

/// The workers of the console and the channel of everything else that comes
/// in (the terminal's input thread). Dropping it stops every worker.
pub struct Runtime {
    input_tx: mpsc::UnboundedSender<Event>,
    input: mpsc::UnboundedReceiver<Event>,
    refresh: Option<(refresh::Refresher, Inbox)>,
    tunnels: Option<(tunnels::TunnelWorker, Inbox)>,
    rollouts: Option<(rollouts::RolloutWorker, Inbox)>,
    actions: Option<(actions::ActionWorker, Inbox)>,
    verify: Option<(verify::VerifyWorker, Inbox)>,
    history: Option<(history::HistoryWorker, Inbox)>,
    githistory: Option<(githistory::GitHistoryWorker, Inbox)>,
    /// The fleet the tunnel worker was last given.
    fleet_sent: Arc<Fleet>,
}

impl Default for Runtime {
    fn default() -> Runtime {
        Runtime::new()
    }
}

impl Runtime {
    /// No workers yet: start them with the `start_*` methods.
    pub fn new() -> Runtime {
        let (input_tx, input) = mpsc::unbounded_channel();
        Runtime {
            input_tx,
            input,
            refresh: None,
            tunnels: None,
            rollouts: None,
            actions: None,
            verify: None,
            history: None,
            githistory: None,
            fleet_sent: Arc::new(Fleet::default()),
        }
    }

    /// Where the terminal's input thread posts keys and resizes.
    pub fn input_sender(&self) -> mpsc::UnboundedSender<Event> {
        self.input_tx.clone()
    }

    /// Refreshes `source` every `every` (see [`refresh::spawn`]).
    pub fn start_refresh(
        &mut self,
        source: crate::metrics::Source,
        thresholds: crate::fleet::Thresholds,
        every: std::time::Duration,
        deadline: std::time::Duration,
    ) {
        self.refresh = Some(refresh::spawn(source, thresholds, every, deadline));
    }

    /// Reads the WireGuard interface, when one is configured (see [`tunnels::spawn`]).
    pub fn start_tunnels(
        &mut self,
        remote: &crate::remote::RemoteConfig,
        every: std::time::Duration,
    ) {
        self.tunnels = tunnels::spawn(remote, every);
    }

    /// Reads the rollout repository every `every` and carries out actions on it.
    pub fn start_rollouts(
        &mut self,
        store: Arc<crate::rollout::store::Store>,
        every: std::time::Duration,
    ) {
        self.rollouts = Some(rollouts::spawn(Arc::clone(&store), every));
        self.githistory = Some(githistory::spawn(Arc::clone(&store)));
        self.actions = Some(actions::spawn(store));
    }

    /// Verifies release signatures.
    pub fn start_verify(&mut self, verifier: Arc<crate::signature::policy::ReleaseVerifier>) {
        self.verify = Some(verify::spawn(verifier));
    }

    /// Fetches device history by range queries (Prometheus).
    pub fn start_history(&mut self, client: crate::metrics::prometheus::PrometheusSource) {
        self.history = Some(history::spawn(client));
    }

    /// The next event from the input thread or any worker. `None`: the input
    /// channel is closed (cannot happen while the runtime holds a sender).
    pub async fn next(&mut self) -> Option<Event> {
        tokio::select! {
            ev = self.input.recv() => ev,
            Some(ev) = recv(&mut self.refresh) => Some(ev),
            Some(ev) = recv(&mut self.tunnels) => Some(ev),
            Some(ev) = recv(&mut self.rollouts) => Some(ev),
            Some(ev) = recv(&mut self.actions) => Some(ev),
            Some(ev) = recv(&mut self.verify) => Some(ev),
            Some(ev) = recv(&mut self.history) => Some(ev),
            Some(ev) = recv(&mut self.githistory) => Some(ev),
        }
    }

    /// An event that is already waiting, if any (input first).
    pub fn try_next(&mut self) -> Option<Event> {
        if let Ok(ev) = self.input.try_recv() {
            return Some(ev);
        }
        try_recv(&mut self.refresh)
            .or_else(|| try_recv(&mut self.tunnels))
            .or_else(|| try_recv(&mut self.rollouts))
            .or_else(|| try_recv(&mut self.actions))
            .or_else(|| try_recv(&mut self.verify))
            .or_else(|| try_recv(&mut self.history))
            .or_else(|| try_recv(&mut self.githistory))
    }

    /// Hands `event` to the app and carries out every effect that follows.
    pub async fn dispatch(
        &mut self,
        app: &mut App,
        event: Event,
        front: &mut impl Frontend,
    ) -> Flow {
        let effects = app.update(event);
        self.execute(app, effects, front).await
    }

    /// The effect loop: carries out `effects` in order; an effect may yield
    /// an event at once (a shell session's end, a theme loaded, an action
    /// refused for want of a repository), which goes to the app, and the
    /// effects it returns join the queue, until the queue is empty.
    pub async fn execute(
        &mut self,
        app: &mut App,
        effects: Vec<Effect>,
        front: &mut impl Frontend,
    ) -> Flow {
        let mut queue: VecDeque<Effect> = effects.into();
        let mut flow = Flow::Continue;
        while let Some(effect) = queue.pop_front() {
            let follow = match effect {
                Effect::Quit => {
                    flow = Flow::Quit;
                    None
                }
                Effect::Shell { device } => Some(front.shell(app, device, None).await),
                Effect::ShellAcceptKey {
                    device,
                    fingerprint,
                } => Some(front.shell(app, device, Some(fingerprint)).await),
                Effect::LoadTheme { name } => {
                    let result = front.load_theme(&name);
                    Some(Event::ThemeLoaded { name, result })
                }
                other => self.start(app, other),
            };
            if let Some(event) = follow {
                queue.extend(app.update(event));
            }
        }
        self.follow_fleet(&app.fleet);
        flow
    }

    /// Hands a worker's effect to its worker. An effect no worker can carry
    /// out either does nothing or yields the event that says why.
    fn start(&mut self, app: &App, effect: Effect) -> Option<Event> {
        match effect {
            Effect::RefreshNow => {
                if let Some((r, _)) = &self.refresh {
                    r.now.notify_one();
                }
            }
            Effect::FetchHistory { device } => {
                if let Some((h, _)) = &self.history {
                    h.send((device, app.settings.sparkline));
                }
            }
            Effect::Verify { references } => {
                if let Some((v, _)) = &self.verify {
                    v.request(references);
                }
            }
            Effect::LoadRollouts => {
                if let Some((r, _)) = &self.rollouts {
                    r.reload.notify_one();
                }
            }
            Effect::LoadRolloutHistory { rollout } => match &self.githistory {
                Some((h, _)) => h.send(rollout),
                None => {
                    return Some(Event::RolloutHistory {
                        rollout,
                        result: Err("no rollout repository is configured ([rollout] repo)".into()),
                    });
                }
            },
            Effect::Act { request, checks } => match &self.actions {
                Some((a, _)) => a.send((request, checks)),
                None => {
                    return Some(Event::ActionDone {
                        rollout: request.rollout,
                        result: Err("no rollout repository is configured ([rollout] repo)".into()),
                    });
                }
            },
            // Carried out by `execute`.
            Effect::Quit
            | Effect::Shell { .. }
            | Effect::ShellAcceptKey { .. }
            | Effect::LoadTheme { .. } => {}
        }
        None
    }

    /// The tunnel worker matches the devices of the fleet on screen.
    fn follow_fleet(&mut self, fleet: &Arc<Fleet>) {
        if let Some((w, _)) = &self.tunnels
            && !Arc::ptr_eq(&self.fleet_sent, fleet)
        {
            self.fleet_sent = Arc::clone(fleet);
            w.set_fleet(Arc::clone(fleet));
        }
    }
}

/// The next result of a worker; never, when there is no worker or it ended.
async fn recv<W>(worker: &mut Option<(W, Inbox)>) -> Option<Event> {
    match worker {
        Some((_, inbox)) => inbox.recv().await,
        None => std::future::pending().await,
    }
}

fn try_recv<W>(worker: &mut Option<(W, Inbox)>) -> Option<Event> {
    worker.as_mut().and_then(|(_, inbox)| inbox.try_recv().ok())
}
