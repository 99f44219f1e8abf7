//! Neuron programs as data: what one neuron does in one timestep, written as a straight-line
//! list of fixed-point operations over its input ports, its state variables and its per-neuron
//! parameters, ending in state updates and sends.
//!
//! The description is the single source of a neuron's behaviour: the reference interpreter
//! executes it ([`NeuronProgram::step`]), and the cost model counts its instructions
//! ([`NeuronProgram::instructions`]) instead of keeping literals by hand.
//!
//! Semantics of one timestep of one neuron:
//! 1. the operations run in order; operation `i` produces value [`Val`]`(i)` and may read only
//!    values produced before it; reads of a state variable see its value at the start of the
//!    timestep; all arithmetic is on `i64`, wrapping (a program that must not wrap saturates or
//!    wraps explicitly with [`Op::Sat`] and [`Op::Wrap`], as the hardware's narrower registers
//!    would);
//! 2. the updates then write state variables, each wrapped to the variable's width;
//! 3. each send emits a message on its output channel: a graded channel's payload is the value
//!    wrapped to the channel's width, and a message is sent when the payload is not zero; a
//!    binary channel (width 0) sends a spike without payload when the value is not zero.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use thiserror::Error;

/// A value computed by an earlier operation of the same program (the operation's index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Val(pub u16);

impl Val {
    /// The index as `usize`.
    #[must_use]
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// One fixed-point operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// A constant.
    Const(i64),
    /// The input accumulated on port `p` for this timestep.
    Port(u8),
    /// A state variable's value at the start of the timestep.
    State(u8),
    /// One of the neuron's parameters (a per-neuron constant of the population).
    Param(u8),
    /// `a + b`.
    Add(Val, Val),
    /// `a - b`.
    Sub(Val, Val),
    /// `a * b`.
    Mul(Val, Val),
    /// `-a`.
    Neg(Val),
    /// `|a|`.
    Abs(Val),
    /// Bitwise `a & b`.
    And(Val, Val),
    /// Left shift by a constant (0..=63).
    Shl(Val, u8),
    /// Arithmetic right shift by a constant (0..=63): `floor(a / 2^n)`.
    Shr(Val, u8),
    /// Right shift of the magnitude, sign kept (0..=63): `sign(a) * (|a| >> n)`, rounding toward
    /// zero.
    ShrTrunc(Val, u8),
    /// `min(a, b)`.
    Min(Val, Val),
    /// `max(a, b)`.
    Max(Val, Val),
    /// Saturation to the signed range of `bits` bits (1..=63).
    Sat(Val, u8),
    /// Two's-complement wrap to `bits` bits (1..=64).
    Wrap(Val, u8),
    /// `1` if `a < b`, else `0`.
    Lt(Val, Val),
    /// `1` if `a == b`, else `0`.
    Eq(Val, Val),
    /// `then` if `cond` is not zero, else `otherwise`.
    Select {
        /// The condition.
        cond: Val,
        /// Value when the condition holds.
        then: Val,
        /// Value otherwise.
        otherwise: Val,
    },
    /// Entry of a table of the program, the index clamped to the table.
    Lut {
        /// Which table.
        table: u8,
        /// The index.
        index: Val,
    },
}

/// What an operation costs on a neurocore's microcode engine, by class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum OpClass {
    /// A read of a port, a state variable, a parameter or a constant into a register.
    Load,
    /// Addition, subtraction, logic, shifts, comparisons, saturation, selection.
    Alu,
    /// Multiplication.
    Mul,
    /// A table lookup.
    Lut,
}

impl Op {
    /// The operation's cost class.
    #[must_use]
    pub fn class(&self) -> OpClass {
        match self {
            Op::Const(_) | Op::Port(_) | Op::State(_) | Op::Param(_) => OpClass::Load,
            Op::Mul(..) => OpClass::Mul,
            Op::Lut { .. } => OpClass::Lut,
            _ => OpClass::Alu,
        }
    }

    /// The values the operation reads.
    #[must_use]
    pub fn operands(&self) -> Vec<Val> {
        match *self {
            Op::Const(_) | Op::Port(_) | Op::State(_) | Op::Param(_) => vec![],
            Op::Neg(a)
            | Op::Abs(a)
            | Op::Shl(a, _)
            | Op::Shr(a, _)
            | Op::ShrTrunc(a, _)
            | Op::Sat(a, _)
            | Op::Wrap(a, _) => vec![a],
            Op::Lut { index, .. } => vec![index],
            Op::Add(a, b)
            | Op::Sub(a, b)
            | Op::Mul(a, b)
            | Op::And(a, b)
            | Op::Min(a, b)
            | Op::Max(a, b)
            | Op::Lt(a, b)
            | Op::Eq(a, b) => vec![a, b],
            Op::Select {
                cond,
                then,
                otherwise,
            } => vec![cond, then, otherwise],
        }
    }
}

/// An input port: a dendritic accumulator that sums the synaptic input of one timestep; the
/// program reads the sum wrapped to the port's width.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortDecl {
    /// Name (unique in the program).
    pub name: String,
    /// Accumulator width in bits (1..=64); the sum wraps at this width.
    pub bits: u8,
}

/// A state variable kept from one timestep to the next.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateDecl {
    /// Name (unique in the program).
    pub name: String,
    /// Width in bits (1..=64); an update wraps at this width.
    pub bits: u8,
}

/// An output channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelDecl {
    /// Name (unique in the program).
    pub name: String,
    /// Payload width in bits: 0 for binary spikes, 1..=32 for graded spikes.
    pub bits: u8,
}

/// A state update: `var` takes `value` at the end of the timestep.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update {
    /// The state variable.
    pub var: u8,
    /// Its new value.
    pub value: Val,
}

/// A send: a message on `channel` when `value` (wrapped to a graded channel's width) is not
/// zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Send {
    /// The output channel.
    pub channel: u8,
    /// The payload (graded) or the spike condition (binary).
    pub value: Val,
}

/// A neuron program.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeuronProgram {
    /// Name, for messages and reports.
    pub name: String,
    /// Input ports.
    pub ports: Vec<PortDecl>,
    /// State variables.
    pub states: Vec<StateDecl>,
    /// Names of the per-neuron parameters.
    pub params: Vec<String>,
    /// Lookup tables (shared by every neuron running the program).
    pub tables: Vec<Vec<i64>>,
    /// Output channels.
    pub channels: Vec<ChannelDecl>,
    /// The operations, in order.
    pub ops: Vec<Op>,
    /// State updates, applied after the operations.
    pub updates: Vec<Update>,
    /// Sends, after the updates.
    pub sends: Vec<Send>,
}

/// Most operations in one program (values are indexed by `u16`).
pub const MAX_OPS: usize = 1 << 15;
/// Most ports, state variables, parameters, tables or channels of one program.
pub const MAX_DECLS: usize = 64;
/// Longest lookup table.
pub const MAX_TABLE_LEN: usize = 1 << 16;
/// Widest graded payload in bits.
pub const MAX_PAYLOAD_BITS: u8 = 32;

/// A malformed neuron program.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("neuron program `{program}`: {message}")]
pub struct ProgramError {
    /// The program's name.
    pub program: String,
    /// What is wrong.
    pub message: String,
}

/// Instructions of one neuron update, by class (derived from the program, see
/// [`NeuronProgram::instructions`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instructions {
    /// Loads of ports, state, parameters and constants.
    pub loads: u32,
    /// Arithmetic and logic operations.
    pub alu: u32,
    /// Multiplications.
    pub mul: u32,
    /// Table lookups.
    pub lut: u32,
    /// State writes.
    pub stores: u32,
    /// Sends (each a conditional message).
    pub sends: u32,
}

impl Instructions {
    /// All instructions.
    #[must_use]
    pub fn total(&self) -> u32 {
        self.loads + self.alu + self.mul + self.lut + self.stores + self.sends
    }
}

/// Counters of values changed by a width in one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Events {
    /// Port sums that did not fit the accumulator's width when read (wrapped).
    pub port_wraps: u64,
    /// State updates that wrapped at the variable's width.
    pub state_wraps: u64,
    /// Graded payloads that wrapped at the channel's width.
    pub payload_wraps: u64,
    /// [`Op::Sat`] operations that changed their value.
    pub saturations: u64,
    /// [`Op::Wrap`] operations that changed their value.
    pub wraps: u64,
}

impl std::ops::AddAssign for Events {
    fn add_assign(&mut self, o: Self) {
        self.port_wraps += o.port_wraps;
        self.state_wraps += o.state_wraps;
        self.payload_wraps += o.payload_wraps;
        self.saturations += o.saturations;
        self.wraps += o.wraps;
    }
}

/// Two's-complement wrap of `v` to `bits` bits (1..=64).
#[must_use]
pub fn wrap(v: i64, bits: u8) -> i64 {
    if bits >= 64 {
        v
    } else {
        let s = 64 - u32::from(bits);
        (v << s) >> s
    }
}

/// Saturation of `v` to the signed range of `bits` bits (1..=63).
#[must_use]
pub fn sat(v: i64, bits: u8) -> i64 {
    let bits = bits.clamp(1, 63);
    let hi = (1i64 << (bits - 1)) - 1;
    v.clamp(-hi - 1, hi)
}

impl NeuronProgram {
    /// Checks that every reference is in range, every width is allowed and every value is read
    /// only after it is computed.
    ///
    /// # Errors
    /// The first problem found, naming the program and the operation.
    pub fn validate(&self) -> Result<(), ProgramError> {
        let err = |message: String| ProgramError {
            program: self.name.clone(),
            message,
        };
        if self.ops.len() > MAX_OPS {
            return Err(err(format!(
                "has {} operations, more than {MAX_OPS}",
                self.ops.len()
            )));
        }
        for (what, n) in [
            ("ports", self.ports.len()),
            ("state variables", self.states.len()),
            ("parameters", self.params.len()),
            ("tables", self.tables.len()),
            ("channels", self.channels.len()),
        ] {
            if n > MAX_DECLS {
                return Err(err(format!("has {n} {what}, more than {MAX_DECLS}")));
            }
        }
        let kinds: [(&str, Vec<&String>); 4] = [
            ("port", self.ports.iter().map(|p| &p.name).collect()),
            (
                "state variable",
                self.states.iter().map(|s| &s.name).collect(),
            ),
            ("parameter", self.params.iter().collect()),
            ("channel", self.channels.iter().map(|c| &c.name).collect()),
        ];
        for (kind, names) in kinds {
            let mut seen = BTreeSet::new();
            for n in names {
                if !seen.insert(n) {
                    return Err(err(format!("declares {kind} `{n}` twice")));
                }
            }
        }
        for p in &self.ports {
            if !(1..=64).contains(&p.bits) {
                return Err(err(format!(
                    "port `{}` is {} bits wide; ports are 1 to 64 bits",
                    p.name, p.bits
                )));
            }
        }
        for s in &self.states {
            if !(1..=64).contains(&s.bits) {
                return Err(err(format!(
                    "state `{}` is {} bits wide; state variables are 1 to 64 bits",
                    s.name, s.bits
                )));
            }
        }
        for c in &self.channels {
            if c.bits > MAX_PAYLOAD_BITS {
                return Err(err(format!(
                    "channel `{}` carries {} bits; payloads are 0 (binary) to {MAX_PAYLOAD_BITS} bits",
                    c.name, c.bits
                )));
            }
        }
        for (i, t) in self.tables.iter().enumerate() {
            if t.is_empty() || t.len() > MAX_TABLE_LEN {
                return Err(err(format!(
                    "table {i} has {} entries; tables have 1 to {MAX_TABLE_LEN}",
                    t.len()
                )));
            }
        }
        let at = |i: usize, m: &str| err(format!("operation {i} ({:?}): {m}", self.ops[i]));
        for (i, op) in self.ops.iter().enumerate() {
            for v in op.operands() {
                if v.index() >= i {
                    return Err(at(i, &format!("reads value {} before it is computed", v.0)));
                }
            }
            match *op {
                Op::Port(p) if usize::from(p) >= self.ports.len() => {
                    return Err(at(i, &format!("port {p} is not declared")));
                }
                Op::State(s) if usize::from(s) >= self.states.len() => {
                    return Err(at(i, &format!("state {s} is not declared")));
                }
                Op::Param(k) if usize::from(k) >= self.params.len() => {
                    return Err(at(i, &format!("parameter {k} is not declared")));
                }
                Op::Lut { table, .. } if usize::from(table) >= self.tables.len() => {
                    return Err(at(i, &format!("table {table} is not declared")));
                }
                Op::Shl(_, n) | Op::Shr(_, n) | Op::ShrTrunc(_, n) if n > 63 => {
                    return Err(at(i, "shifts by more than 63 bits"));
                }
                Op::Sat(_, b) if !(1..=63).contains(&b) => {
                    return Err(at(i, "saturates to a width outside 1..=63 bits"));
                }
                Op::Wrap(_, b) if !(1..=64).contains(&b) => {
                    return Err(at(i, "wraps to a width outside 1..=64 bits"));
                }
                _ => {}
            }
        }
        let n = self.ops.len();
        let mut updated = BTreeSet::new();
        for u in &self.updates {
            if usize::from(u.var) >= self.states.len() {
                return Err(err(format!("updates undeclared state {}", u.var)));
            }
            if !updated.insert(u.var) {
                return Err(err(format!(
                    "updates state `{}` twice",
                    self.states[usize::from(u.var)].name
                )));
            }
            if u.value.index() >= n {
                return Err(err(format!(
                    "an update reads value {}, not computed",
                    u.value.0
                )));
            }
        }
        let mut sent = BTreeSet::new();
        for s in &self.sends {
            if usize::from(s.channel) >= self.channels.len() {
                return Err(err(format!("sends on undeclared channel {}", s.channel)));
            }
            if !sent.insert(s.channel) {
                return Err(err(format!(
                    "sends on channel `{}` twice",
                    self.channels[usize::from(s.channel)].name
                )));
            }
            if s.value.index() >= n {
                return Err(err(format!(
                    "a send reads value {}, not computed",
                    s.value.0
                )));
            }
        }
        Ok(())
    }

    /// The instructions of one neuron update, counted from the description.
    #[must_use]
    pub fn instructions(&self) -> Instructions {
        let mut c = Instructions::default();
        for op in &self.ops {
            match op.class() {
                OpClass::Load => c.loads += 1,
                OpClass::Alu => c.alu += 1,
                OpClass::Mul => c.mul += 1,
                OpClass::Lut => c.lut += 1,
            }
        }
        c.stores = self.updates.len() as u32;
        c.sends = self.sends.len() as u32;
        c
    }

    /// Index of a port by name.
    #[must_use]
    pub fn port(&self, name: &str) -> Option<u8> {
        self.ports
            .iter()
            .position(|p| p.name == name)
            .map(|i| i as u8)
    }

    /// Index of a channel by name.
    #[must_use]
    pub fn channel(&self, name: &str) -> Option<u8> {
        self.channels
            .iter()
            .position(|c| c.name == name)
            .map(|i| i as u8)
    }

    /// One timestep of one neuron (the definition of what the program computes). `ports` holds
    /// the accumulated inputs, `state` the state variables (updated in place), `params` the
    /// neuron's parameters; `scratch` is reused between calls. Returns, per channel, the message
    /// sent (0: none; binary channels send 1). The program must be valid.
    pub fn step(
        &self,
        ports: &[i64],
        state: &mut [i64],
        params: &[i64],
        scratch: &mut Vec<i64>,
        sent: &mut [i64],
        events: &mut Events,
    ) {
        scratch.clear();
        for op in &self.ops {
            let v = |x: Val| scratch[x.index()];
            let r = match *op {
                Op::Const(c) => c,
                Op::Port(p) => ports[usize::from(p)],
                Op::State(s) => state[usize::from(s)],
                Op::Param(k) => params[usize::from(k)],
                Op::Add(a, b) => v(a).wrapping_add(v(b)),
                Op::Sub(a, b) => v(a).wrapping_sub(v(b)),
                Op::Mul(a, b) => v(a).wrapping_mul(v(b)),
                Op::Neg(a) => v(a).wrapping_neg(),
                Op::Abs(a) => v(a).wrapping_abs(),
                Op::And(a, b) => v(a) & v(b),
                Op::Shl(a, n) => v(a).wrapping_shl(u32::from(n)),
                Op::Shr(a, n) => v(a) >> n,
                Op::ShrTrunc(a, n) => {
                    let x = v(a);
                    let m = (x.unsigned_abs() >> n) as i64;
                    if x < 0 { -m } else { m }
                }
                Op::Min(a, b) => v(a).min(v(b)),
                Op::Max(a, b) => v(a).max(v(b)),
                Op::Sat(a, bits) => {
                    let (x, r) = (v(a), sat(v(a), bits));
                    events.saturations += u64::from(r != x);
                    r
                }
                Op::Wrap(a, bits) => {
                    let (x, r) = (v(a), wrap(v(a), bits));
                    events.wraps += u64::from(r != x);
                    r
                }
                Op::Lt(a, b) => i64::from(v(a) < v(b)),
                Op::Eq(a, b) => i64::from(v(a) == v(b)),
                Op::Select {
                    cond,
                    then,
                    otherwise,
                } => {
                    if v(cond) != 0 {
                        v(then)
                    } else {
                        v(otherwise)
                    }
                }
                Op::Lut { table, index } => {
                    let t = &self.tables[usize::from(table)];
                    let i = v(index).clamp(0, t.len() as i64 - 1) as usize;
                    t[i]
                }
            };
            scratch.push(r);
        }
        for u in &self.updates {
            let var = usize::from(u.var);
            let x = scratch[u.value.index()];
            let w = wrap(x, self.states[var].bits);
            if w != x {
                events.state_wraps += 1;
            }
            state[var] = w;
        }
        sent.fill(0);
        for s in &self.sends {
            let x = scratch[s.value.index()];
            let ch = usize::from(s.channel);
            let bits = self.channels[ch].bits;
            sent[ch] = if bits == 0 {
                i64::from(x != 0)
            } else {
                let w = wrap(x, bits);
                if w != x {
                    events.payload_wraps += 1;
                }
                w
            };
        }
    }
}

/// Builds a program operation by operation, returning each operation's value.
#[derive(Debug)]
pub struct ProgramBuilder {
    program: NeuronProgram,
}

impl ProgramBuilder {
    /// An empty program.
    #[must_use]
    pub fn new(name: &str) -> Self {
        Self {
            program: NeuronProgram {
                name: name.to_owned(),
                ports: vec![],
                states: vec![],
                params: vec![],
                tables: vec![],
                channels: vec![],
                ops: vec![],
                updates: vec![],
                sends: vec![],
            },
        }
    }

    /// Declares an input port of `bits` bits and loads it.
    pub fn port(&mut self, name: &str, bits: u8) -> Val {
        let i = self.program.ports.len() as u8;
        self.program.ports.push(PortDecl {
            name: name.to_owned(),
            bits,
        });
        self.op(Op::Port(i))
    }

    /// Declares a state variable of `bits` bits and loads its value at the start of the step.
    /// Returns the variable's index and the value.
    pub fn state(&mut self, name: &str, bits: u8) -> (u8, Val) {
        let i = self.program.states.len() as u8;
        self.program.states.push(StateDecl {
            name: name.to_owned(),
            bits,
        });
        (i, self.op(Op::State(i)))
    }

    /// Declares a per-neuron parameter and loads it.
    pub fn param(&mut self, name: &str) -> Val {
        let i = self.program.params.len() as u8;
        self.program.params.push(name.to_owned());
        self.op(Op::Param(i))
    }

    /// Declares a lookup table; returns its index.
    pub fn table(&mut self, values: Vec<i64>) -> u8 {
        self.program.tables.push(values);
        (self.program.tables.len() - 1) as u8
    }

    /// Declares an output channel of `bits` payload bits (0: binary); returns its index.
    pub fn channel(&mut self, name: &str, bits: u8) -> u8 {
        self.program.channels.push(ChannelDecl {
            name: name.to_owned(),
            bits,
        });
        (self.program.channels.len() - 1) as u8
    }

    /// Appends an operation.
    pub fn op(&mut self, op: Op) -> Val {
        self.program.ops.push(op);
        Val((self.program.ops.len() - 1) as u16)
    }

    /// A constant.
    pub fn constant(&mut self, c: i64) -> Val {
        self.op(Op::Const(c))
    }

    /// Writes state variable `var` at the end of the step.
    pub fn update(&mut self, var: u8, value: Val) {
        self.program.updates.push(Update { var, value });
    }

    /// Sends `value` on `channel` when it is not zero.
    pub fn send(&mut self, channel: u8, value: Val) {
        self.program.sends.push(Send { channel, value });
    }

    /// The program, validated.
    ///
    /// # Errors
    /// See [`NeuronProgram::validate`].
    pub fn build(self) -> Result<NeuronProgram, ProgramError> {
        self.program.validate()?;
        Ok(self.program)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(p: &NeuronProgram, ports: &[i64], state: &mut [i64], params: &[i64]) -> Vec<i64> {
        let mut sent = vec![0; p.channels.len()];
        p.step(
            ports,
            state,
            params,
            &mut Vec::new(),
            &mut sent,
            &mut Events::default(),
        );
        sent
    }

    #[test]
    fn an_accumulator_keeps_its_sum_and_sends_it_graded() {
        let mut b = ProgramBuilder::new("acc");
        let x = b.port("x", 24);
        let (s, old) = b.state("sum", 16);
        let new = b.op(Op::Add(old, x));
        b.update(s, new);
        let out = b.channel("sum", 16);
        b.send(out, new);
        let p = b.build().expect("valid");
        let mut st = [0];
        assert_eq!(run(&p, &[5], &mut st, &[]), vec![5]);
        assert_eq!(run(&p, &[-2], &mut st, &[]), vec![3]);
        assert_eq!(run(&p, &[-3], &mut st, &[]), vec![0], "zero sends nothing");
        // The state wraps at 16 bits.
        assert_eq!(run(&p, &[40_000], &mut st, &[]), vec![40_000 - 65_536]);
        assert_eq!(
            p.instructions(),
            Instructions {
                loads: 2,
                alu: 1,
                stores: 1,
                sends: 1,
                ..Instructions::default()
            }
        );
    }

    #[test]
    fn shifts_round_as_named() {
        let mut b = ProgramBuilder::new("shifts");
        let x = b.param("x");
        let f = b.op(Op::Shr(x, 2));
        let t = b.op(Op::ShrTrunc(x, 2));
        let (cf, ct) = (b.channel("f", 32), b.channel("t", 32));
        b.send(cf, f);
        b.send(ct, t);
        let p = b.build().expect("valid");
        assert_eq!(run(&p, &[], &mut [], &[-7]), vec![-2, -1]);
        assert_eq!(run(&p, &[], &mut [], &[7]), vec![1, 1]);
        assert_eq!(run(&p, &[], &mut [], &[-1]), vec![-1, 0]);
        // A payload that wraps to zero sends nothing.
        assert_eq!(run(&p, &[], &mut [], &[1 << 34]), vec![0, 0]);
        assert_eq!(run(&p, &[], &mut [], &[(1 << 34) + 4]), vec![1, 1]);
    }

    #[test]
    fn malformed_programs_are_named_errors() {
        let mut p = {
            let mut b = ProgramBuilder::new("p");
            let x = b.port("x", 8);
            let c = b.channel("y", 8);
            b.send(c, x);
            b.build().expect("valid")
        };
        p.ops.push(Op::Add(Val(0), Val(5)));
        let e = p.validate().expect_err("forward read");
        assert!(e.to_string().contains("before it is computed"), "{e}");
        p.ops.pop();
        p.ops.push(Op::Port(3));
        assert!(p.validate().is_err());
        p.ops.pop();
        p.channels[0].bits = 33;
        assert!(
            p.validate()
                .expect_err("wide")
                .to_string()
                .contains("payloads")
        );
        p.channels[0].bits = 8;
        p.sends.push(p.sends[0]);
        assert!(
            p.validate()
                .expect_err("twice")
                .to_string()
                .contains("twice")
        );
    }

    proptest! {
        #[test]
        fn wrap_and_sat_agree_with_their_definitions(v in any::<i64>(), bits in 1u8..=63) {
            let m = 1i128 << bits;
            let w = i128::from(wrap(v, bits));
            prop_assert!(w >= -m / 2 && w < m / 2);
            prop_assert_eq!((i128::from(v) - w).rem_euclid(m), 0);
            let s = i128::from(sat(v, bits));
            prop_assert_eq!(s, i128::from(v).clamp(-m / 2, m / 2 - 1));
        }
    }
}
