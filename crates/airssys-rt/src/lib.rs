//! airssys-rt: a general actor runtime with OTP-style supervision and
//! NATS-style pub-sub, on tokio. It knows nothing of WebAssembly.

pub mod broker;
pub mod supervisor;
