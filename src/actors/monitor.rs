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
use super::now_ms;
use crate::domain::probe::ProbeSpec;
use crate::domain::schedule::{job_id, next_tick_after};
use crate::domain::{IntervalSeconds, Monitor};
use crate::queue::jobs::Job;

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
}

impl MonitorActor {
    pub fn new(id: Uuid, plan: ProbePlan, jobs: JobSender) -> Self {
        Self {
            id,
            plan,
            jobs,
            next_tick: None,
            last_tick_ms: None,
        }
    }

    fn schedule_next(&mut self, ctx: &mut Context<Self>) {
        if let Some(handle) = self.next_tick.take() {
            ctx.cancel_future(handle);
        }
        let now = now_ms();
        let after = self.last_tick_ms.map_or(now, |last| last.max(now));
        let tick = next_tick_after(self.id, self.plan.interval, after);
        let delay = Duration::from_millis(tick.saturating_sub(now));
        self.next_tick = Some(ctx.run_later(delay, move |actor, ctx| actor.on_tick(tick, ctx)));
    }

    fn on_tick(&mut self, tick_ms: u64, ctx: &mut Context<Self>) {
        self.next_tick = None;
        self.last_tick_ms = Some(tick_ms);
        let emitted = catch_unwind(AssertUnwindSafe(|| self.jobs.send(self.job(tick_ms))));
        if emitted.is_err() {
            tracing::error!(monitor_id = %self.id, "monitor actor panicked; restarting it");
            ctx.stop();
            return;
        }
        self.schedule_next(ctx);
    }

    fn job(&self, tick_ms: u64) -> Job {
        Job {
            job_id: job_id(self.id, tick_ms),
            monitor_id: self.id,
            name: self.plan.name.clone(),
            spec: self.plan.spec.clone(),
            scheduled_at_ms: tick_ms,
        }
    }
}

impl Actor for MonitorActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
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
