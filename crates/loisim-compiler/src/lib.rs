//! The loisim compiler: maps a quantized sparse S5 model onto Loihi neurocores.
//!
//! Data flow: [`network::lower`] turns the model IR into populations of neurons running neuron
//! programs, joined by projections of synapses; [`compile::compile`] partitions the populations
//! into core-sized pieces, places them on the mesh, routes the flows (XY) and builds every
//! core's synapse tables, giving a [`program::Program`] that the simulator executes;
//! [`report::MapReport`] describes the mapping.
//!
//! The compiler is deterministic: the same model, chip and options give the same program.
//! It does no I/O.

pub mod activity;
pub mod compile;
pub mod layout;
pub mod net_map;
pub mod network;
pub mod program;
pub mod report;
pub mod synmem;
pub mod to_ir;

pub use activity::Activity;
pub use compile::{CompileError, compile};
pub use layout::{CoreId, Endpoint, LinkId};
pub use network::{PopId, PopKind, Source};
pub use program::{CompileOptions, Program};
