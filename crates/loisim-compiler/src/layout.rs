//! Board geometry and routing: cores, routers, links, dimension-order (XY) routes.
//!
//! Routers of all chips form one global grid (`chip_x * routers_x + x`, `chip_y * routers_y +
//! y`); a link between two routers of different chips is a chip-to-chip link. Messages travel
//! along x first, then along y. Two cores of the same router exchange messages locally, without
//! using a link. The host (the embedded I/O processor) is attached to one router of chip 0.

use loisim_arch::{Chip, ChipError};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A physical neurocore of the board.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CoreId(pub u32);

impl CoreId {
    /// The index as `usize`.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for CoreId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "core {}", self.0)
    }
}

/// A directed link between neighbouring routers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LinkId(pub u32);

impl LinkId {
    /// The index as `usize`.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// One end of a message's path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Endpoint {
    /// The host I/O processor.
    Host,
    /// A neurocore.
    Core(CoreId),
}

/// Where a core is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// Chip index.
    pub chip: u32,
    /// Global router column.
    pub gx: u32,
    /// Global router row.
    pub gy: u32,
    /// Core slot on its router.
    pub slot: u32,
}

/// Direction of a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Axis {
    /// East-west.
    X,
    /// North-south.
    Y,
}

/// A directed link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// From router (global x, y).
    pub from: (u32, u32),
    /// To router.
    pub to: (u32, u32),
    /// Axis.
    pub axis: Axis,
    /// Crosses a chip boundary.
    pub chip_link: bool,
}

/// The board's geometry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Board {
    rx: u32,
    ry: u32,
    cpr: u32,
    cx: u32,
    cy: u32,
    io: (u32, u32),
    links: Vec<Link>,
}

impl Board {
    /// The geometry of a chip description's board, or [`ChipError::TooLarge`] (checked before
    /// anything is allocated) when the board is above [`loisim_arch::MAX_BOARD_CORES`] cores or
    /// [`loisim_arch::MAX_BOARD_LINKS`] links, even for a description that was never
    /// validated.
    pub fn new(chip: &Chip) -> Result<Self, ChipError> {
        let size = chip.board_size()?;
        let (rx, ry, cpr) = (
            chip.mesh.routers_x.value,
            chip.mesh.routers_y.value,
            chip.mesh.cores_per_router.value,
        );
        let (cx, cy) = (chip.board.chips_x.value, chip.board.chips_y.value);
        let (w, h) = (size.grid_x, size.grid_y);
        let mut links = Vec::with_capacity(size.links as usize);
        for gy in 0..h {
            for gx in 0..w {
                let mut push = |to: (u32, u32), axis: Axis| {
                    let chip_link = (gx / rx, gy / ry) != (to.0 / rx, to.1 / ry);
                    links.push(Link {
                        from: (gx, gy),
                        to,
                        axis,
                        chip_link,
                    });
                };
                if gx + 1 < w {
                    push((gx + 1, gy), Axis::X);
                }
                if gx > 0 {
                    push((gx - 1, gy), Axis::X);
                }
                if gy + 1 < h {
                    push((gx, gy + 1), Axis::Y);
                }
                if gy > 0 {
                    push((gx, gy - 1), Axis::Y);
                }
            }
        }
        debug_assert_eq!(links.len(), size.links as usize);
        Ok(Self {
            rx,
            ry,
            cpr,
            cx,
            cy,
            io: (chip.io.router_x.value, chip.io.router_y.value),
            links,
        })
    }

    /// Cores on the board.
    pub fn n_cores(&self) -> u32 {
        self.rx * self.ry * self.cpr * self.cx * self.cy
    }

    /// Every directed link.
    pub fn links(&self) -> &[Link] {
        &self.links
    }

    /// Location of a core. Cores are numbered chip by chip, then router row, router column,
    /// slot.
    pub fn location(&self, c: CoreId) -> Location {
        let per_chip = self.rx * self.ry * self.cpr;
        let chip = c.0 / per_chip;
        let r = c.0 % per_chip;
        let (y, x, slot) = (
            r / (self.rx * self.cpr),
            (r / self.cpr) % self.rx,
            r % self.cpr,
        );
        Location {
            chip,
            gx: (chip % self.cx) * self.rx + x,
            gy: (chip / self.cx) * self.ry + y,
            slot,
        }
    }

    /// The router an endpoint is attached to.
    pub fn router(&self, e: Endpoint) -> (u32, u32) {
        match e {
            Endpoint::Host => self.io,
            Endpoint::Core(c) => {
                let l = self.location(c);
                (l.gx, l.gy)
            }
        }
    }

    /// Manhattan distance in hops between two endpoints' routers.
    pub fn hops(&self, a: Endpoint, b: Endpoint) -> u32 {
        let (p, q) = (self.router(a), self.router(b));
        p.0.abs_diff(q.0) + p.1.abs_diff(q.1)
    }

    /// The id of the link between two neighbouring routers, in O(1): links are numbered router
    /// by router (rows, then columns), each router's in the order +x, -x, +y, -y, skipping
    /// those that leave the grid; the number of links before a router is a closed form.
    fn link_id(&self, from: (u32, u32), to: (u32, u32)) -> LinkId {
        let (w, h) = (u64::from(self.rx * self.cx), u64::from(self.ry * self.cy));
        let (x, y) = (u64::from(from.0), u64::from(from.1));
        // Links of a router along x (the same for every row) and along y (every router of a
        // row has the same), summed over whole rows before `y`, then over the columns before
        // `x` in row `y`.
        let x_links_per_row = 2 * (w - 1);
        let rows_before = y * x_links_per_row + w * (y.min(h - 1) + y.saturating_sub(1));
        let x_before = x.min(w - 1) + x.saturating_sub(1);
        let cols_before = x_before + x * (u64::from(y + 1 < h) + u64::from(y > 0));
        // Within the router: +x, -x, +y, -y.
        let has = [x + 1 < w, x > 0, y + 1 < h, y > 0];
        let dir = match (
            i64::from(to.0) - i64::from(from.0),
            i64::from(to.1) - i64::from(from.1),
        ) {
            (1, 0) => 0,
            (-1, 0) => 1,
            (0, 1) => 2,
            (0, -1) => 3,
            _ => panic!("no link {from:?} -> {to:?}: routers are not neighbours"),
        };
        assert!(has[dir], "no link {from:?} -> {to:?}: it leaves the grid");
        let within = has[..dir].iter().filter(|&&b| b).count() as u64;
        let id = rows_before + cols_before + within;
        debug_assert!(id < self.links.len() as u64);
        LinkId(id as u32)
    }

    /// The XY route between two endpoints: the links crossed in order (empty when both share a
    /// router).
    pub fn route(&self, a: Endpoint, b: Endpoint) -> Vec<LinkId> {
        let (mut p, q) = (self.router(a), self.router(b));
        let mut path = Vec::new();
        while p.0 != q.0 {
            let next = (if q.0 > p.0 { p.0 + 1 } else { p.0 - 1 }, p.1);
            path.push(self.link_id(p, next));
            p = next;
        }
        while p.1 != q.1 {
            let next = (p.0, if q.1 > p.1 { p.1 + 1 } else { p.1 - 1 });
            path.push(self.link_id(p, next));
            p = next;
        }
        path
    }

    /// Routers of chip 0 in serpentine order starting at the host's router: the order the
    /// placer fills cores in, so consecutive stages land on neighbouring routers.
    pub fn serpentine_cores(&self) -> Vec<CoreId> {
        let (w, h) = (self.rx * self.cx, self.ry * self.cy);
        let mut routers = Vec::new();
        // Columns sweep away from the host's column, rows snake.
        let cols: Vec<u32> = if self.io.0 < w / 2 {
            (0..w).collect()
        } else {
            (0..w).rev().collect()
        };
        let rows: Vec<u32> = if self.io.1 < h / 2 {
            (0..h).collect()
        } else {
            (0..h).rev().collect()
        };
        for (k, &gy) in rows.iter().enumerate() {
            let line: Vec<u32> = if k % 2 == 0 {
                cols.clone()
            } else {
                cols.iter().rev().copied().collect()
            };
            for gx in line {
                routers.push((gx, gy));
            }
        }
        let mut cores = Vec::with_capacity(self.n_cores() as usize);
        for (gx, gy) in routers {
            let (chip_x, chip_y) = (gx / self.rx, gy / self.ry);
            let chip = chip_y * self.cx + chip_x;
            let (x, y) = (gx % self.rx, gy % self.ry);
            for slot in 0..self.cpr {
                cores.push(CoreId(
                    chip * self.rx * self.ry * self.cpr + (y * self.rx + x) * self.cpr + slot,
                ));
            }
        }
        cores
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xy_routes_go_x_first_and_are_contiguous() {
        let b = Board::new(&Chip::default_chip()).expect("board");
        let a = CoreId(0);
        let c = CoreId(4 * (3 * 8 + 5) + 2); // router (5, 3)
        let r = b.route(Endpoint::Core(a), Endpoint::Core(c));
        assert_eq!(r.len() as u32, b.hops(Endpoint::Core(a), Endpoint::Core(c)));
        assert_eq!(r.len(), 8);
        let links: Vec<Link> = r.iter().map(|l| b.links()[l.index()]).collect();
        assert!(links[..5].iter().all(|l| l.axis == Axis::X));
        assert!(links[5..].iter().all(|l| l.axis == Axis::Y));
        for w in links.windows(2) {
            assert_eq!(w[0].to, w[1].from);
        }
        assert!(
            b.route(Endpoint::Core(CoreId(0)), Endpoint::Core(CoreId(3)))
                .is_empty()
        );
    }

    #[test]
    fn serpentine_visits_every_core_once() {
        for name in ["loihi2", "kapoho-point"] {
            let b = Board::new(&Chip::preset(name).expect("preset")).expect("board");
            let mut s = b.serpentine_cores();
            assert_eq!(s.len() as u32, b.n_cores());
            s.sort();
            s.dedup();
            assert_eq!(s.len() as u32, b.n_cores());
        }
    }

    #[test]
    fn multi_chip_routes_cross_chip_links() {
        let b = Board::new(&Chip::preset("kapoho-point").expect("preset")).expect("board");
        let last = CoreId(b.n_cores() - 1);
        let r = b.route(Endpoint::Core(CoreId(0)), Endpoint::Core(last));
        assert!(r.iter().filter(|l| b.links()[l.index()].chip_link).count() >= 2);
    }

    /// The linear scan `link_id` replaced: the oracle of the closed form.
    fn link_id_by_scan(b: &Board, from: (u32, u32), to: (u32, u32)) -> Option<LinkId> {
        b.links()
            .iter()
            .position(|l| l.from == from && l.to == to)
            .map(|i| LinkId(i as u32))
    }

    fn board(rx: u32, ry: u32, cpr: u32, cx: u32, cy: u32) -> Board {
        let mut chip = Chip::default_chip();
        chip.mesh.routers_x.value = rx;
        chip.mesh.routers_y.value = ry;
        chip.mesh.cores_per_router.value = cpr;
        chip.board.chips_x.value = cx;
        chip.board.chips_y.value = cy;
        chip.io.router_x.value = 0;
        chip.io.router_y.value = 0;
        Board::new(&chip).expect("board")
    }

    #[test]
    fn link_ids_equal_the_linear_scan_on_every_link_of_several_boards() {
        for (rx, ry, cpr, cx, cy) in [
            (1, 1, 1, 1, 1),
            (2, 1, 1, 1, 1),
            (1, 3, 2, 1, 1),
            (8, 4, 4, 1, 1),
            (3, 5, 1, 2, 3),
            (4, 4, 1, 4, 2),
            (7, 2, 1, 1, 5),
        ] {
            let b = board(rx, ry, cpr, cx, cy);
            let (w, h) = (rx * cx, ry * cy);
            let mut seen = 0;
            for y in 0..h {
                for x in 0..w {
                    for (dx, dy) in [(1i64, 0i64), (-1, 0), (0, 1), (0, -1)] {
                        let (tx, ty) = (i64::from(x) + dx, i64::from(y) + dy);
                        if tx < 0 || ty < 0 || tx >= i64::from(w) || ty >= i64::from(h) {
                            continue;
                        }
                        let to = (tx as u32, ty as u32);
                        assert_eq!(
                            Some(b.link_id((x, y), to)),
                            link_id_by_scan(&b, (x, y), to),
                            "board {rx}x{ry}x{cpr} on {cx}x{cy} chips, ({x}, {y}) -> {to:?}"
                        );
                        seen += 1;
                    }
                }
            }
            assert_eq!(seen, b.links().len());
        }
    }

    #[test]
    fn a_board_above_the_core_cap_is_an_error_even_unvalidated() {
        let mut chip = Chip::default_chip();
        chip.mesh.routers_x.value = 1_048_575;
        chip.mesh.routers_y.value = 1_048_575;
        let e = Board::new(&chip).expect_err("too large");
        assert!(
            e.to_string()
                .contains("more than the limit of 1048576 cores"),
            "{e}"
        );
    }
}
