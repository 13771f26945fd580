//! The vectorized backtest: entry/exit signals and close prices in, orders, trades and
//! per-bar position, cash and equity out, for one column or many at once (rayon).
//!
//! The semantics are vectorbt's `Portfolio.from_signals` (vectorbt 1.2, checked against it
//! in `tests/backtest_vs_vectorbt.rs`) with `init_cash`, `size` (`np.inf` = all in, or a
//! fixed amount), `fees` (fraction of notional), `slippage`, `accumulate=False`, no fixed
//! fees, no stops, one column per simulation (no cash sharing):
//!
//! * Orders execute at the close of the signal bar, at `close * (1 + slippage)` when
//!   buying and `close * (1 - slippage)` when selling; fees are `fees x size x price`.
//! * Long-only: an entry while flat buys `size` (all the cash for `np.inf`, net of fees:
//!   `size = cash / (1 + fees) / price`); an exit while long sells the whole position.
//!   A bar with both signals does nothing.
//! * Long/short ([`Direction::Both`]): entries are long entries and exits short entries.
//!   An opposite signal reverses the position in one order (close plus open). Short sizes
//!   with `np.inf` use all the free cash (vectorbt's `free_cash`, which counts short
//!   proceeds as borrowed: a short of value `v` costs `2v` of free cash).
//! * Insufficient cash cuts the size (partial fill); vectorbt's float tolerances
//!   (relative 1e-9, absolute 1e-12) decide when a quantity or cash amount is zero.
//! * Trades are vectorbt's *exit trades*: one per closing order (a reversal closes one
//!   trade and opens the next, splitting the order's fee by size); a position still open
//!   at the end is an open trade valued at the last close with no exit fee.

use rayon::prelude::*;

/// Which positions the signals may open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    LongOnly,
    /// Entries open longs, exits open shorts; opposite signals reverse.
    Both,
}

/// How much each entry orders.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Size {
    /// All available cash (`size=np.inf`).
    AllIn,
    /// A fixed quantity of the asset, cut to what cash allows.
    Fixed(f64),
}

/// Simulation parameters shared by every column of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PortfolioConfig {
    pub init_cash: f64,
    pub size: Size,
    /// Fraction of the notional (0.001 = 10 bps).
    pub fees: f64,
    /// Fraction of the price.
    pub slippage: f64,
    pub direction: Direction,
}

impl Default for PortfolioConfig {
    fn default() -> PortfolioConfig {
        PortfolioConfig {
            init_cash: 100.0,
            size: Size::AllIn,
            fees: 0.0,
            slippage: 0.0,
            direction: Direction::LongOnly,
        }
    }
}

/// The inputs are unusable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BacktestError {
    #[error("`{field}` has length {len}, expected {expected}")]
    LengthMismatch {
        field: &'static str,
        len: usize,
        expected: usize,
    },
    #[error("`{field}` = {value} is out of range: {rule}")]
    OutOfRange {
        field: &'static str,
        value: f64,
        rule: &'static str,
    },
    #[error("`{0}` must have at least one bar")]
    Empty(&'static str),
    #[error("signal: {0}")]
    Signal(#[from] crate::signal::SignalError),
}

impl PortfolioConfig {
    pub fn validate(&self) -> Result<(), BacktestError> {
        let bad = |field, value, rule| Err(BacktestError::OutOfRange { field, value, rule });
        if !(self.init_cash.is_finite() && self.init_cash > 0.0) {
            return bad("init_cash", self.init_cash, "finite and > 0");
        }
        if !(self.fees.is_finite() && self.fees > -1.0) {
            return bad("fees", self.fees, "finite and > -1");
        }
        if !(self.slippage.is_finite() && (0.0..1.0).contains(&self.slippage)) {
            return bad("slippage", self.slippage, "finite, 0 <= slippage < 1");
        }
        if let Size::Fixed(s) = self.size {
            if !(s.is_finite() && s > 0.0) {
                return bad("size", s, "finite and > 0 (use Size::AllIn for np.inf)");
            }
        }
        Ok(())
    }
}

/// One executed order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Order {
    pub idx: usize,
    /// Always positive.
    pub size: f64,
    /// Execution price (slippage included).
    pub price: f64,
    pub fees: f64,
    pub is_buy: bool,
}

/// One trade (vectorbt exit trade).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trade {
    pub entry_idx: usize,
    /// The last bar for an open trade.
    pub exit_idx: usize,
    pub size: f64,
    pub entry_price: f64,
    pub exit_price: f64,
    pub entry_fees: f64,
    pub exit_fees: f64,
    pub pnl: f64,
    /// `pnl / (size x entry_price)`.
    pub ret: f64,
    pub is_long: bool,
    pub is_open: bool,
}

/// The result of one column.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Portfolio {
    pub orders: Vec<Order>,
    pub trades: Vec<Trade>,
    /// Position after each bar's order.
    pub position: Vec<f64>,
    /// Cash after each bar's order.
    pub cash: Vec<f64>,
    /// `cash + position x close` after each bar.
    pub equity: Vec<f64>,
    pub init_cash: f64,
}

/// The end state of one column, without per-bar arrays (for wide parameter sweeps).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
    pub final_equity: f64,
    pub orders: usize,
    pub closed_trades: usize,
    pub fees_paid: f64,
    /// Largest peak-to-trough fall of equity as a fraction of the peak (positive).
    pub max_drawdown: f64,
}

// vectorbt.utils.math_ tolerances and helpers, reproduced because they decide when a
// position or a cash balance counts as zero.
const REL_TOL: f64 = 1e-9;
const ABS_TOL: f64 = 1e-12;

#[inline]
fn is_close(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() || a.is_infinite() || b.is_infinite() {
        return false;
    }
    a == b || (a - b).abs() <= (REL_TOL * a.abs().max(b.abs())).max(ABS_TOL)
}

#[inline]
fn is_close_or_less(a: f64, b: f64) -> bool {
    is_close(a, b) || a < b
}

#[inline]
fn np_sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

#[inline]
fn add(a: f64, b: f64) -> f64 {
    let zero = if np_sign(a) != np_sign(b) {
        is_close(a.abs(), b.abs())
    } else {
        is_close(a + b, 0.0)
    };
    if zero {
        0.0
    } else {
        a + b
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct State {
    cash: f64,
    position: f64,
    debt: f64,
    free_cash: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum OrderDir {
    LongOnly,
    ShortOnly,
    Both,
}

/// vectorbt `buy_nb` without fixed fees, locks, size limits or granularity.
fn buy(
    s: State,
    size: f64,
    price: f64,
    dir: OrderDir,
    fees: f64,
    slip: f64,
    percent: f64,
) -> Option<(State, Order)> {
    let adj_price = price * (1.0 + slip);
    let mut cash_limit = s.cash;
    if !percent.is_nan() {
        cash_limit = cash_limit.min(percent * cash_limit);
    }
    if dir == OrderDir::ShortOnly {
        if s.position == 0.0 {
            return None;
        }
    } else if cash_limit == 0.0 {
        return None;
    }
    let adj_size = if dir == OrderDir::ShortOnly {
        (-s.position).min(size)
    } else {
        size
    };
    if adj_size == 0.0 {
        return None;
    }
    let req_cash = adj_size * adj_price;
    let req_fees = req_cash * fees;
    let total_req_cash = req_cash + req_fees;
    let (final_size, fees_paid, final_req_cash) = if is_close_or_less(total_req_cash, cash_limit) {
        (adj_size, req_fees, total_req_cash)
    } else {
        let max_req_cash = add(cash_limit, -0.0) / (1.0 + fees);
        if max_req_cash <= 0.0 {
            return None;
        }
        (
            max_req_cash / adj_price,
            cash_limit - max_req_cash,
            cash_limit,
        )
    };
    if is_close(adj_size, 0.0) || final_size < 0.0 {
        return None;
    }
    let new_cash = add(s.cash, -final_req_cash);
    let new_position = add(s.position, final_size);
    let (new_debt, new_free_cash) = if s.position < 0.0 {
        let short_size = if new_position < 0.0 {
            final_size
        } else {
            s.position.abs()
        };
        let avg_entry_price = s.debt / s.position.abs();
        let debt_diff = short_size * avg_entry_price;
        (
            add(s.debt, -debt_diff),
            add(s.free_cash + 2.0 * debt_diff, -final_req_cash),
        )
    } else {
        (s.debt, add(s.free_cash, -final_req_cash))
    };
    Some((
        State {
            cash: new_cash,
            position: new_position,
            debt: new_debt,
            free_cash: new_free_cash,
        },
        Order {
            idx: 0,
            size: final_size,
            price: adj_price,
            fees: fees_paid,
            is_buy: true,
        },
    ))
}

/// vectorbt `sell_nb` without fixed fees, locks, size limits or granularity.
fn sell(
    s: State,
    size: f64,
    price: f64,
    dir: OrderDir,
    fees: f64,
    slip: f64,
    percent: f64,
) -> Option<(State, Order)> {
    let adj_price = price * (1.0 - slip);
    let mut size_limit = if dir == OrderDir::LongOnly {
        s.position.min(size)
    } else if size.is_infinite() && !percent.is_nan() {
        let long_size = s.position.max(0.0);
        let long_cash = long_size * adj_price * (1.0 - fees);
        let total_free_cash = add(s.free_cash, long_cash);
        if total_free_cash <= 0.0 {
            if s.position <= 0.0 {
                return None;
            }
            long_size
        } else {
            let max_short_size = add(total_free_cash, -0.0) / (adj_price * (1.0 + fees));
            let m = add(long_size, max_short_size);
            if m <= 0.0 {
                return None;
            }
            m
        }
    } else {
        size
    };
    if !percent.is_nan() {
        size_limit *= percent;
    }
    if dir == OrderDir::LongOnly && s.position == 0.0 {
        return None;
    }
    if size_limit.is_infinite() || is_close(size_limit, 0.0) || size_limit < 0.0 {
        return None;
    }
    let acq_cash = size_limit * adj_price;
    let fees_paid = acq_cash * fees;
    let final_acq_cash = add(acq_cash, -fees_paid);
    if final_acq_cash < 0.0 {
        return None;
    }
    let new_cash = s.cash + final_acq_cash;
    let new_position = add(s.position, -size_limit);
    let (new_debt, new_free_cash) = if new_position < 0.0 {
        let short_size = if s.position < 0.0 {
            size_limit
        } else {
            new_position.abs()
        };
        let short_value = short_size * adj_price;
        (
            s.debt + short_value,
            add(s.free_cash, add(final_acq_cash, -2.0 * short_value)),
        )
    } else {
        (s.debt, s.free_cash + final_acq_cash)
    };
    Some((
        State {
            cash: new_cash,
            position: new_position,
            debt: new_debt,
            free_cash: new_free_cash,
        },
        Order {
            idx: 0,
            size: size_limit,
            price: adj_price,
            fees: fees_paid,
            is_buy: false,
        },
    ))
}

/// The order (signed size, direction) vectorbt's `signals_to_size_nb` makes of one bar's
/// signals with `accumulate=False`, after its default conflict rules (a bar with both
/// signals is ignored) and `upon_opposite_entry=ReverseReduce`.
fn signal_order(
    position: f64,
    entry: bool,
    exit: bool,
    cfg: &PortfolioConfig,
) -> Option<(f64, OrderDir)> {
    if entry && exit {
        return None;
    }
    let size = match cfg.size {
        Size::AllIn => f64::INFINITY,
        Size::Fixed(s) => s,
    };
    let (long_entry, long_exit, short_entry) = match cfg.direction {
        Direction::LongOnly => (entry, exit, false),
        Direction::Both => (entry, false, exit),
    };
    if position > 0.0 {
        if short_entry {
            Some((-position.abs() - size, OrderDir::Both))
        } else if long_exit {
            Some((-position.abs(), OrderDir::LongOnly))
        } else {
            None
        }
    } else if position < 0.0 {
        if long_entry {
            Some((position.abs() + size, OrderDir::Both))
        } else {
            None
        }
    } else if long_entry {
        let dir = match cfg.direction {
            Direction::LongOnly => OrderDir::LongOnly,
            Direction::Both => OrderDir::Both,
        };
        Some((size, dir))
    } else if short_entry {
        Some((-size, OrderDir::Both))
    } else {
        None
    }
}

/// vectorbt `execute_order_nb` for an amount order.
fn execute(
    s: State,
    size: f64,
    dir: OrderDir,
    price: f64,
    cfg: &PortfolioConfig,
) -> Option<(State, Order)> {
    if price.is_nan() || price <= 0.0 {
        return None;
    }
    let z = |x: f64| if is_close(x, 0.0) { 0.0 } else { x };
    let s = State {
        cash: z(s.cash),
        position: z(s.position),
        debt: z(s.debt),
        free_cash: z(s.free_cash),
    };
    let (mut size, mut percent) = (size, f64::NAN);
    if matches!(dir, OrderDir::ShortOnly | OrderDir::Both) && size < 0.0 && size.is_infinite() {
        // Infinite negative size means 100% of the resources to short.
        percent = 1.0;
        size = f64::NEG_INFINITY;
    }
    if size > 0.0 {
        buy(s, size, price, dir, cfg.fees, cfg.slippage, percent)
    } else {
        sell(s, -size, price, dir, cfg.fees, cfg.slippage, percent)
    }
}

fn check_inputs(
    close: &[f64],
    entries: &[bool],
    exits: &[bool],
    cfg: &PortfolioConfig,
) -> Result<(), BacktestError> {
    cfg.validate()?;
    if close.is_empty() {
        return Err(BacktestError::Empty("close"));
    }
    for (field, len) in [("entries", entries.len()), ("exits", exits.len())] {
        if len != close.len() {
            return Err(BacktestError::LengthMismatch {
                field,
                len,
                expected: close.len(),
            });
        }
    }
    Ok(())
}

/// Runs the bar loop, calling `on_bar(i, state, order)` after each bar.
fn run<F: FnMut(usize, &State, Option<Order>)>(
    close: &[f64],
    entries: &[bool],
    exits: &[bool],
    cfg: &PortfolioConfig,
    mut on_bar: F,
) {
    let mut s = State {
        cash: cfg.init_cash,
        free_cash: cfg.init_cash,
        ..State::default()
    };
    for i in 0..close.len() {
        let mut done = None;
        if entries[i] || exits[i] {
            if let Some((size, dir)) = signal_order(s.position, entries[i], exits[i], cfg) {
                if size != 0.0 {
                    if let Some((ns, mut o)) = execute(s, size, dir, close[i], cfg) {
                        s = ns;
                        o.idx = i;
                        done = Some(o);
                    }
                }
            }
        }
        on_bar(i, &s, done);
    }
}

/// Simulates one column with full per-bar output.
pub fn simulate(
    close: &[f64],
    entries: &[bool],
    exits: &[bool],
    cfg: &PortfolioConfig,
) -> Result<Portfolio, BacktestError> {
    check_inputs(close, entries, exits, cfg)?;
    let n = close.len();
    let mut pf = Portfolio {
        position: Vec::with_capacity(n),
        cash: Vec::with_capacity(n),
        equity: Vec::with_capacity(n),
        init_cash: cfg.init_cash,
        ..Portfolio::default()
    };
    run(close, entries, exits, cfg, |i, s, o| {
        if let Some(o) = o {
            pf.orders.push(o);
        }
        pf.position.push(s.position);
        pf.cash.push(s.cash);
        // vectorbt values a position at the close (NaN closes propagate).
        let value = if s.position != 0.0 {
            s.cash + s.position * close[i]
        } else {
            s.cash
        };
        pf.equity.push(value);
    });
    pf.trades = exit_trades(&pf.orders, n - 1, close[n - 1]);
    Ok(pf)
}

/// Simulates one column from target positions (vectorbt `Portfolio.from_orders` with
/// `size_type='targetamount'`): at each bar with a finite target, an order for
/// `target - position` executes at the close (with slippage and fees, cut to the cash);
/// NaN means no order. [`Direction::LongOnly`] never sells below flat; `cfg.size` is
/// not used.
pub fn simulate_targets(
    close: &[f64],
    targets: &[f64],
    cfg: &PortfolioConfig,
) -> Result<Portfolio, BacktestError> {
    cfg.validate()?;
    if close.is_empty() {
        return Err(BacktestError::Empty("close"));
    }
    if targets.len() != close.len() {
        return Err(BacktestError::LengthMismatch {
            field: "targets",
            len: targets.len(),
            expected: close.len(),
        });
    }
    let n = close.len();
    let dir = match cfg.direction {
        Direction::LongOnly => OrderDir::LongOnly,
        Direction::Both => OrderDir::Both,
    };
    let mut pf = Portfolio {
        position: Vec::with_capacity(n),
        cash: Vec::with_capacity(n),
        equity: Vec::with_capacity(n),
        init_cash: cfg.init_cash,
        ..Portfolio::default()
    };
    let mut s = State {
        cash: cfg.init_cash,
        free_cash: cfg.init_cash,
        ..State::default()
    };
    for i in 0..n {
        if targets[i].is_finite() {
            // execute_order_nb zeroes a near-zero position before taking the difference.
            let position = if is_close(s.position, 0.0) {
                0.0
            } else {
                s.position
            };
            let size = targets[i] - position;
            if let Some((ns, mut o)) = execute(s, size, dir, close[i], cfg) {
                s = ns;
                o.idx = i;
                pf.orders.push(o);
            }
        }
        pf.position.push(s.position);
        pf.cash.push(s.cash);
        pf.equity.push(if s.position != 0.0 {
            s.cash + s.position * close[i]
        } else {
            s.cash
        });
    }
    pf.trades = exit_trades(&pf.orders, n - 1, close[n - 1]);
    Ok(pf)
}

/// Simulates one column keeping only its summary: no per-bar allocation.
pub fn simulate_summary(
    close: &[f64],
    entries: &[bool],
    exits: &[bool],
    cfg: &PortfolioConfig,
) -> Result<Summary, BacktestError> {
    check_inputs(close, entries, exits, cfg)?;
    let mut sum = Summary::default();
    let mut peak = f64::NEG_INFINITY;
    let mut last_equity = cfg.init_cash;
    let mut position_sign = 0.0;
    run(close, entries, exits, cfg, |i, s, o| {
        if let Some(o) = o {
            sum.orders += 1;
            sum.fees_paid += o.fees;
            // A closing or reversing order closes one trade.
            if position_sign != 0.0 && (o.is_buy != (position_sign > 0.0)) {
                sum.closed_trades += 1;
            }
        }
        position_sign = np_sign(s.position);
        let value = if s.position != 0.0 {
            s.cash + s.position * close[i]
        } else {
            s.cash
        };
        if value > peak {
            peak = value;
        }
        if peak > 0.0 {
            sum.max_drawdown = sum.max_drawdown.max((peak - value) / peak);
        }
        last_equity = value;
    });
    sum.final_equity = last_equity;
    Ok(sum)
}

/// vectorbt `get_exit_trades_nb` for one column's orders.
pub fn exit_trades(orders: &[Order], last_idx: usize, last_close: f64) -> Vec<Trade> {
    let mut trades = Vec::new();
    let mut in_position = false;
    let (mut entry_idx, mut is_long) = (0usize, true);
    let (mut size_sum, mut gross_sum, mut fees_sum) = (0.0f64, 0.0f64, 0.0f64);
    let push = |trades: &mut Vec<Trade>,
                size: f64,
                entry_idx,
                entry_price: f64,
                entry_fees: f64,
                exit_idx,
                exit_price: f64,
                exit_fees: f64,
                is_long: bool,
                is_open: bool| {
        let entry_val = size * entry_price;
        let exit_val = size * exit_price;
        let mut diff = add(exit_val, -entry_val);
        if diff != 0.0 && !is_long {
            diff = -diff;
        }
        let pnl = diff - entry_fees - exit_fees;
        trades.push(Trade {
            entry_idx,
            exit_idx,
            size,
            entry_price,
            exit_price,
            entry_fees,
            exit_fees,
            pnl,
            ret: pnl / entry_val,
            is_long,
            is_open,
        });
    };
    for o in orders {
        if !in_position {
            in_position = true;
            entry_idx = o.idx;
            is_long = o.is_buy;
            size_sum = 0.0;
            gross_sum = 0.0;
            fees_sum = 0.0;
        }
        if o.is_buy == is_long {
            size_sum += o.size;
            gross_sum += o.size * o.price;
            fees_sum += o.fees;
        } else if is_close_or_less(o.size, size_sum) {
            let exit_size = if is_close(o.size, size_sum) {
                size_sum
            } else {
                o.size
            };
            let entry_price = gross_sum / size_sum;
            let entry_fees = exit_size / size_sum * fees_sum;
            push(
                &mut trades,
                exit_size,
                entry_idx,
                entry_price,
                entry_fees,
                o.idx,
                o.price,
                o.fees,
                is_long,
                false,
            );
            if is_close(o.size, size_sum) {
                in_position = false;
            } else {
                let frac = (size_sum - o.size) / size_sum;
                size_sum *= frac;
                gross_sum *= frac;
                fees_sum *= frac;
            }
        } else {
            // Reversal: close the trade with part of the order, open the next with the rest.
            let cl_size = size_sum;
            let cl_fees = cl_size / o.size * o.fees;
            let entry_price = gross_sum / size_sum;
            let entry_fees = cl_size / size_sum * fees_sum;
            push(
                &mut trades,
                cl_size,
                entry_idx,
                entry_price,
                entry_fees,
                o.idx,
                o.price,
                cl_fees,
                is_long,
                false,
            );
            size_sum = o.size - cl_size;
            gross_sum = size_sum * o.price;
            fees_sum = o.fees - cl_fees;
            entry_idx = o.idx;
            is_long = !is_long;
        }
    }
    if in_position && -size_sum < 0.0 && !is_close(-size_sum, 0.0) {
        let entry_price = gross_sum / size_sum;
        // vectorbt scales the fees by size / size, exactly 1 in IEEE arithmetic.
        let entry_fees = fees_sum;
        push(
            &mut trades,
            size_sum,
            entry_idx,
            entry_price,
            entry_fees,
            last_idx,
            last_close,
            0.0,
            is_long,
            true,
        );
    }
    trades
}

/// One column of a multi-column run: borrowed close prices and signals.
#[derive(Debug, Clone, Copy)]
pub struct Column<'a> {
    pub close: &'a [f64],
    pub entries: &'a [bool],
    pub exits: &'a [bool],
}

/// Simulates many columns (instruments x parameter sets) in parallel.
pub fn simulate_many(
    columns: &[Column<'_>],
    cfg: &PortfolioConfig,
) -> Vec<Result<Portfolio, BacktestError>> {
    columns
        .par_iter()
        .map(|c| simulate(c.close, c.entries, c.exits, cfg))
        .collect()
}

/// Entry (fast crosses above slow) and exit (fast crosses below slow) signals of a moving
/// average pair: `fast[t] > slow[t] && fast[t-1] <= slow[t-1]` and the mirror; a bar with
/// a NaN on either side, now or before, gives no signal.
pub fn cross_signals(fast: &[f64], slow: &[f64], entries: &mut [bool], exits: &mut [bool]) {
    let n = fast
        .len()
        .min(slow.len())
        .min(entries.len())
        .min(exits.len());
    if n == 0 {
        return;
    }
    entries[0] = false;
    exits[0] = false;
    for t in 1..n {
        let (f0, s0, f1, s1) = (fast[t - 1], slow[t - 1], fast[t], slow[t]);
        let valid = !(f0.is_nan() || s0.is_nan() || f1.is_nan() || s1.is_nan());
        entries[t] = valid && f1 > s1 && f0 <= s0;
        exits[t] = valid && f1 < s1 && f0 >= s0;
    }
}

/// The EMA(fast) / EMA(slow) cross over one close series for many period pairs, in
/// parallel, keeping only summaries (TA-Lib EMAs from [`crate::ta`]).
pub fn ema_cross_sweep(
    close: &[f64],
    pairs: &[(usize, usize)],
    cfg: &PortfolioConfig,
) -> Result<Vec<Summary>, BacktestError> {
    cfg.validate()?;
    if close.is_empty() {
        return Err(BacktestError::Empty("close"));
    }
    pairs
        .par_iter()
        .map_init(
            || {
                let n = close.len();
                (vec![0.0; n], vec![0.0; n], vec![false; n], vec![false; n])
            },
            |(fast, slow, en, ex), &(pf, ps)| {
                let bad = |p: usize| BacktestError::OutOfRange {
                    field: "period",
                    value: p as f64,
                    rule: ">= 1",
                };
                crate::ta::ema_into(close, pf, fast).map_err(|_| bad(pf))?;
                crate::ta::ema_into(close, ps, slow).map_err(|_| bad(ps))?;
                cross_signals(fast, slow, en, ex);
                simulate_summary(close, en, ex, cfg)
            },
        )
        .collect()
}
