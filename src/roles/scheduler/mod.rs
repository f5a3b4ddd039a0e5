//! The scheduler: the registry keeps one supervised monitor actor per probed
//! monitor of the owned partitions; each actor emits a job on its grid ticks;
//! the emitter batches the jobs onto the jobs stream.

pub mod emitter;
pub mod monitor;
pub mod registry;
