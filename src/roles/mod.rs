//! The roles a process runs, each a `Step` under the shared consumer loop
//! (`runtime::consumer`): the scheduler (registry, monitor actors, emitter),
//! the worker, the folder, the notifier, the live feed (broadcaster,
//! sessions), the lease keepers and housekeeping. They hold no business rules beyond calling the
//! domain.

pub mod folder;
pub mod housekeeping;
pub mod leases;
pub mod live;
pub mod notifier;
pub mod scheduler;
pub mod skips;
pub mod worker;
