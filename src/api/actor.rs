//! Who makes a request: the actor its changes are recorded under.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload};

use crate::domain::actor::Actor;

/// The request's actor: the one authentication put in the request's
/// extensions, or `anonymous` (authentication is off).
#[derive(Debug, Clone)]
pub struct RequestActor(pub Actor);

impl RequestActor {
    pub fn of(req: &HttpRequest) -> Self {
        Self(
            req.extensions()
                .get::<Actor>()
                .cloned()
                .unwrap_or(Actor::Anonymous),
        )
    }
}

impl FromRequest for RequestActor {
    type Error = std::convert::Infallible;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::of(req)))
    }
}
