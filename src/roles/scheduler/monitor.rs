//! One actor per probed monitor: it wakes on its grid ticks and emits a job.
//! Started under `actix::Supervisor`; a panic in a tick stops just this actor,
//! and the supervisor starts it again on the same grid.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use actix::{
    Actor, ActorContext, AsyncContext, Context, Handler, Message, SpawnHandle, Supervised,
};
use uuid::Uuid;

use super::emitter::JobSender;
use crate::domain::overload::skip_window_ms;
use crate::domain::probe::ProbeSpec;
use crate::domain::schedule::{catch_up, job_id, next_tick_after, ticks_between, wake_at};
use crate::domain::{IntervalSeconds, Monitor};
use crate::queue::jobs::Job;
use crate::runtime::now_ms;

/// What a monitor actor needs to know of its monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbePlan {
    pub name: String,
    pub interval: IntervalSeconds,
    pub spec: ProbeSpec,
}

impl From<&Monitor> for ProbePlan {
    fn from(monitor: &Monitor) -> Self {
        Self {
            name: monitor.config.name.as_ref().to_owned(),
            interval: monitor.config.interval_seconds,
            spec: ProbeSpec::from(&monitor.config),
        }
    }
}

pub struct MonitorActor {
    id: Uuid,
    plan: ProbePlan,
    jobs: JobSender,
    next_tick: Option<SpawnHandle>,
    /// The last tick emitted: the next one is always after it, even if the
    /// timer fires a little early.
    last_tick_ms: Option<u64>,
    /// Taken over from another scheduler: every tick up to here was handled
    /// there, and the ones after it up to the start are caught up.
    handled_ms: Option<u64>,
}

impl MonitorActor {
    /// `handled_ms`: see the field; none for a monitor nobody scheduled before.
    pub fn new(id: Uuid, plan: ProbePlan, jobs: JobSender, handled_ms: Option<u64>) -> Self {
        Self {
            id,
            plan,
            jobs,
            next_tick: None,
            last_tick_ms: None,
            handled_ms,
        }
    }

    /// The ticks that fell while no scheduler ran this monitor: the latest
    /// is probed late if it may still be, the rest counted skipped.
    fn catch_up(&mut self, handled_ms: u64) {
        let window = skip_window_ms(self.plan.interval);
        let caught = catch_up(self.id, self.plan.interval, handled_ms, now_ms(), window);
        self.jobs.passed_over(
            self.id,
            caught.skipped,
            "no scheduler ran the monitor (a process died or its partition moved)",
        );
        if let Some(tick) = caught.late_tick_ms {
            self.last_tick_ms = Some(tick);
            self.jobs.send(self.job(tick));
        }
    }

    /// Schedules the next grid tick after now (and after the last one); returns it.
    fn schedule_next(&mut self, ctx: &mut Context<Self>) -> u64 {
        if let Some(handle) = self.next_tick.take() {
            ctx.cancel_future(handle);
        }
        let now = now_ms();
        let after = self.last_tick_ms.map_or(now, |last| last.max(now));
        let tick = next_tick_after(self.id, self.plan.interval, after);
        let delay = Duration::from_millis(wake_at(tick).saturating_sub(now));
        self.next_tick = Some(ctx.run_later(delay, move |actor, ctx| actor.on_tick(tick, ctx)));
        tick
    }

    fn on_tick(&mut self, tick_ms: u64, ctx: &mut Context<Self>) {
        self.next_tick = None;
        self.last_tick_ms = Some(tick_ms);
        if self.survived(ctx, |actor| actor.jobs.send(actor.job(tick_ms))) {
            let next = self.schedule_next(ctx);
            // The timer fired more than an interval late (the thread was
            // busy): the ticks passed over are skipped, and counted as such.
            let missed = ticks_between(self.plan.interval, tick_ms, next);
            self.jobs.passed_over(
                self.id,
                missed,
                "the scheduler's thread was too busy to tick on time",
            );
        }
    }

    /// Runs `work`; if it panics, stops the actor so its supervisor restarts
    /// it (actix does not catch panics itself). False if it panicked.
    fn survived<T>(&mut self, ctx: &mut Context<Self>, work: impl FnOnce(&mut Self) -> T) -> bool {
        if catch_unwind(AssertUnwindSafe(|| work(self))).is_ok() {
            return true;
        }
        tracing::error!(monitor_id = %self.id, "monitor actor panicked; restarting it");
        ctx.stop();
        false
    }

    fn job(&self, tick_ms: u64) -> Job {
        Job {
            job_id: job_id(self.id, tick_ms),
            monitor_id: self.id,
            name: self.plan.name.clone(),
            spec: self.plan.spec.clone(),
            scheduled_at_ms: tick_ms,
            skip_after_ms: Some(tick_ms + skip_window_ms(self.plan.interval)),
        }
    }
}

impl Actor for MonitorActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Once: a restart after a panic goes on from the last tick.
        if let Some(handled_ms) = self.handled_ms.take() {
            self.catch_up(handled_ms);
        }
        self.schedule_next(ctx);
    }
}

impl Supervised for MonitorActor {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        self.next_tick = None;
        tracing::warn!(monitor_id = %self.id, "monitor actor restarted");
    }
}

/// New settings from an update; they apply from the next tick on.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Reconfigure(pub ProbePlan);

impl Handler<Reconfigure> for MonitorActor {
    type Result = ();

    fn handle(&mut self, Reconfigure(plan): Reconfigure, ctx: &mut Self::Context) {
        let regrid = plan.interval != self.plan.interval;
        self.plan = plan;
        if regrid {
            self.schedule_next(ctx);
        }
    }
}

/// Stops the actor for good (paused or deleted): the registry drops its
/// address, so the supervisor does not restart it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Retire;

impl Handler<Retire> for MonitorActor {
    type Result = ();

    fn handle(&mut self, _: Retire, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::check::{Check, HttpCheck};
    use crate::domain::{HttpMethod, MonitorUrl, TimeoutMs};
    use actix::Supervisor;
    use tokio::sync::mpsc;

    /// Makes the actor panic inside its guarded work, as a bug would.
    #[derive(Message)]
    #[rtype(result = "()")]
    struct Crash;

    impl Handler<Crash> for MonitorActor {
        type Result = ();

        fn handle(&mut self, _: Crash, ctx: &mut Self::Context) {
            self.survived(ctx, |_| panic!("a bug in a tick"));
        }
    }

    fn plan() -> ProbePlan {
        ProbePlan {
            name: "api".into(),
            interval: IntervalSeconds::parse(1).unwrap(),
            spec: ProbeSpec {
                check: Check::Http(HttpCheck {
                    url: MonitorUrl::parse("http://127.0.0.1:9/").unwrap(),
                    method: HttpMethod::Get,
                    expected_status: None,
                    headers: Default::default(),
                    body: None,
                    conditions: Default::default(),
                    expected_version: None,
                    version_source: None,
                }),
                timeout: TimeoutMs::parse(500).unwrap(),
            },
        }
    }

    async fn next_job(jobs: &mut mpsc::Receiver<Job>) -> Job {
        tokio::time::timeout(Duration::from_secs(5), jobs.recv())
            .await
            .expect("a job within two intervals")
            .expect("the channel is open")
    }

    #[actix::test]
    async fn a_panicking_monitor_actor_is_restarted_and_keeps_its_grid() {
        let (sender, mut jobs) = mpsc::channel(16);
        let id = Uuid::new_v4();
        let actor =
            Supervisor::start(move |_| MonitorActor::new(id, plan(), JobSender::new(sender), None));
        let before = next_job(&mut jobs).await;

        actor.send(Crash).await.unwrap();
        let after = next_job(&mut jobs).await;
        assert_eq!(after.monitor_id, id);
        assert!(after.scheduled_at_ms > before.scheduled_at_ms);
        let interval = plan().interval.as_millis();
        assert_eq!(
            (after.scheduled_at_ms - before.scheduled_at_ms) % interval,
            0,
            "same grid"
        );
        assert_eq!(after.job_id, job_id(id, after.scheduled_at_ms));
    }

    #[actix::test]
    async fn a_retired_monitor_actor_stays_stopped() {
        let (sender, mut jobs) = mpsc::channel(16);
        let actor = Supervisor::start(move |_| {
            MonitorActor::new(Uuid::new_v4(), plan(), JobSender::new(sender), None)
        });
        next_job(&mut jobs).await;
        actor.do_send(Retire);
        drop(actor);
        // Once stopped for good, the actor drops its sender and the channel closes.
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            while jobs.recv().await.is_some() {}
        })
        .await;
        assert!(closed.is_ok(), "the retired actor kept emitting jobs");
    }
}
