//! The general network IR of loisim.
//!
//! A [`Network`] is populations of neurons, each running a [`NeuronProgram`] described as data
//! (fixed-point operations over ports, state and parameters, then updates and sends),
//! projections of synapses between them (dense, sparse, conv with shared weights, one-to-one,
//! identity), each with a delay, and the network's inputs and outputs. Binary spikes are
//! payloads of width 0, graded spikes carry up to 32 bits.
//!
//! [`interp`] is the reference interpreter: the definition of what a network computes, one
//! timestep at a time. See `docs/networks.md`.

pub mod interp;
pub mod lava;
pub mod network;
pub mod program;
pub mod random;

pub use interp::{Reference, Step, StepActivity, run};
pub use network::{
    Conv, Delay, Input, InputId, MAX_DELAY, MAX_POPULATION, MAX_SYNAPSES, NetError, Network,
    Output, PopId, Population, ProgramId, ProjId, Projection, Schedule, Source, Synapses, Target,
};
pub use program::{
    ChannelDecl, Events, Instructions, NeuronProgram, Op, OpClass, PortDecl, ProgramBuilder,
    ProgramError, Send, StateDecl, Update, Val,
};
