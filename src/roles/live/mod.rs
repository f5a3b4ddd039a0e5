//! The live feed: the broadcaster tails the transitions stream and hands
//! each transition to the WebSocket sessions whose filters match. The rules
//! (filters, joining catch-up and live) are in `domain::feed`.

pub mod broadcaster;
pub mod session;
