//! The event-driven backtest over bars: a [`Strategy`] sees each bar, sends orders through
//! the venue's [`MatchingEngine`], and is told of its fills; one deterministic loop.
//!
//! Bars carry no order book, so the loop gives the venue one: a liquidity provider quotes
//! a bid at `close x (1 - slippage)` and an ask at `close x (1 + slippage)` (rounded
//! outwards to the tick) of `liquidity_lots` each. At each bar the ask, then the bid, is
//! posted and withdrawn (our resting orders it crosses trade); then the strategy acts and
//! each of its orders meets the quote on its other side, posted for it and withdrawn
//! after (posting both at once would lock the book when slippage is 0). Market orders therefore execute at the close of
//! the bar that produced the signal (vectorbt's default); our resting limit orders stay in
//! the book and trade, at their own price, when a later bar's quote crosses them. The
//! strategy pays the taker fee on orders that trade on arrival and the maker fee on
//! resting orders that are hit. Cash and position are kept in lots and quote currency;
//! equity is `cash + position x close` after each bar.

use super::vectorized::{exit_trades, BacktestError, Order, Trade};
use crate::model::{OrderRequest, OrderType, Side, TimeInForce};
use crate::venue::{
    EngineConfig, ExecReport, FeeSchedule, MatchingEngine, StpMode, VenueInstrument,
};

/// One OHLCV bar (floats: bars are an edge format; the venue works in ticks).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Bar {
    pub ts_ns: u64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

/// Parameters of a bar backtest of one instrument.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BarConfig {
    pub init_cash: f64,
    pub tick_size: f64,
    pub lot_size: f64,
    /// Taker fee as a fraction of notional (0.001 = 10 bps).
    pub taker_fee: f64,
    /// Maker fee as a fraction of notional; negative for a rebate.
    pub maker_fee: f64,
    /// Fraction of the close the liquidity provider's quotes are away from it.
    pub slippage: f64,
    /// Quantity of each liquidity-provider quote.
    pub liquidity_lots: i64,
}

/// What a strategy may do from a callback: send and cancel orders, read its state.
pub struct Context<'a> {
    bar_index: usize,
    close: f64,
    cash: f64,
    position_lots: i64,
    cfg: &'a BarConfig,
    next_id: &'a mut u64,
    outbox: &'a mut Vec<Request>,
}

#[derive(Debug, Clone, Copy)]
enum Request {
    Submit(OrderRequest, TimeInForce),
    Cancel(u64),
}

/// The owner id of the synthetic liquidity provider; strategies are owner 0.
const LP_OWNER: u16 = u16::MAX;
/// Client id of the liquidity provider's quote (strategy ids count up from 1).
const LP_ID: u64 = u64::MAX;

impl Context<'_> {
    pub fn bar_index(&self) -> usize {
        self.bar_index
    }
    pub fn cash(&self) -> f64 {
        self.cash
    }
    pub fn position_lots(&self) -> i64 {
        self.position_lots
    }
    /// Cash plus the position valued at the current close.
    pub fn equity(&self) -> f64 {
        self.cash + self.position_lots as f64 * self.cfg.lot_size * self.close
    }
    pub fn config(&self) -> &BarConfig {
        self.cfg
    }

    /// Sends an order; returns its client id.
    pub fn submit(
        &mut self,
        side: Side,
        order_type: OrderType,
        price_ticks: i64,
        qty_lots: i64,
        tif: TimeInForce,
    ) -> u64 {
        *self.next_id += 1;
        let id = *self.next_id;
        let mut req = OrderRequest::limit(0, 0, side, price_ticks, qty_lots, id);
        req.order_type = order_type;
        self.outbox.push(Request::Submit(req, tif));
        id
    }

    /// A market order.
    pub fn market(&mut self, side: Side, qty_lots: i64) -> u64 {
        self.submit(side, OrderType::Market, 0, qty_lots, TimeInForce::Ioc)
    }

    pub fn cancel(&mut self, client_order_id: u64) {
        self.outbox.push(Request::Cancel(client_order_id));
    }

    /// The lots that `cash` buys at the liquidity provider's current ask, fees included
    /// (vectorbt's all-in size, floored to the lot).
    pub fn max_buy_lots(&self) -> i64 {
        let ask = ask_ticks(self.close, self.cfg) as f64 * self.cfg.tick_size;
        let lots = self.cash / (1.0 + self.cfg.taker_fee) / ask / self.cfg.lot_size;
        if lots.is_finite() && lots > 0.0 {
            // A hair under the exact quotient so float noise never buys more than cash.
            (lots * (1.0 - 1e-12)).floor() as i64
        } else {
            0
        }
    }
}

/// A trading strategy driven by bars.
pub trait Strategy {
    /// Called once per bar, after the venue has the bar's quotes.
    fn on_bar(&mut self, ctx: &mut Context<'_>, bar: &Bar);
    /// Called for each execution report of the strategy's orders.
    fn on_report(&mut self, _ctx: &mut Context<'_>, _report: &ExecReport) {}
}

/// The output of a bar backtest.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BarResult {
    /// Every report the strategy received, in order.
    pub reports: Vec<ExecReport>,
    /// The strategy's fills as orders (bar index, size in asset units, price, fee).
    pub orders: Vec<Order>,
    pub trades: Vec<Trade>,
    pub position: Vec<f64>,
    pub cash: Vec<f64>,
    pub equity: Vec<f64>,
}

fn ask_ticks(close: f64, cfg: &BarConfig) -> i64 {
    // The small epsilon absorbs division noise (46377.0 / 0.1 = 463770.00000000006).
    (close * (1.0 + cfg.slippage) / cfg.tick_size - 1e-9).ceil() as i64
}

fn bid_ticks(close: f64, cfg: &BarConfig) -> i64 {
    (close * (1.0 - cfg.slippage) / cfg.tick_size + 1e-9).floor() as i64
}

fn bad(field: &'static str, value: f64, rule: &'static str) -> BacktestError {
    BacktestError::OutOfRange { field, value, rule }
}

/// Runs `strategy` over `bars`.
pub fn run_bars<S: Strategy>(
    bars: &[Bar],
    cfg: &BarConfig,
    strategy: &mut S,
) -> Result<BarResult, BacktestError> {
    if bars.is_empty() {
        return Err(BacktestError::Empty("bars"));
    }
    for (f, v) in [
        ("init_cash", cfg.init_cash),
        ("tick_size", cfg.tick_size),
        ("lot_size", cfg.lot_size),
    ] {
        if !(v.is_finite() && v > 0.0) {
            return Err(bad(f, v, "finite and > 0"));
        }
    }
    if !(cfg.slippage.is_finite() && (0.0..1.0).contains(&cfg.slippage)) {
        return Err(bad("slippage", cfg.slippage, "0 <= slippage < 1"));
    }
    if cfg.liquidity_lots <= 0 {
        return Err(bad("liquidity_lots", cfg.liquidity_lots as f64, "> 0"));
    }
    let spec = VenueInstrument {
        quote_per_tick_lot: cfg.tick_size * cfg.lot_size,
        fees: FeeSchedule {
            maker_bps: cfg.maker_fee * 1e4,
            taker_bps: cfg.taker_fee * 1e4,
        },
    };
    let mut engine = MatchingEngine::new(EngineConfig {
        instruments: vec![spec],
        stp: StpMode::CancelNewest,
        capacity: 4096,
    })
    .map_err(|_| bad("fees", cfg.taker_fee, "finite"))?;
    let n = bars.len();
    let mut res = BarResult {
        position: Vec::with_capacity(n),
        cash: Vec::with_capacity(n),
        equity: Vec::with_capacity(n),
        ..BarResult::default()
    };
    let (mut cash, mut pos) = (cfg.init_cash, 0i64);
    let mut next_id = 0u64;
    let mut outbox: Vec<Request> = Vec::with_capacity(16);
    let mut reports: Vec<ExecReport> = Vec::with_capacity(64);
    let mut pending_reports: Vec<ExecReport> = Vec::with_capacity(64);
    for (i, bar) in bars.iter().enumerate() {
        if !(bar.close.is_finite() && bar.close > 0.0) {
            return Err(bad("close", bar.close, "finite and > 0"));
        }
        let ts = bar.ts_ns;
        let (bid, ask) = (bid_ticks(bar.close, cfg), ask_ticks(bar.close, cfg));
        // The bar's quotes meet our resting orders, one side at a time (a bid and an ask
        // at the same price would be a locked book the venue does not allow).
        reports.clear();
        for (side, px) in [(Side::Sell, ask), (Side::Buy, bid)] {
            lp_quote(
                &mut engine,
                side,
                px,
                cfg.liquidity_lots,
                ts,
                &mut reports,
                |_, _| {},
            );
        }
        let mut ctx = Context {
            bar_index: i,
            close: bar.close,
            cash,
            position_lots: pos,
            cfg,
            next_id: &mut next_id,
            outbox: &mut outbox,
        };
        pending_reports.clear();
        pending_reports.extend(reports.iter().filter(|r| r.owner != LP_OWNER));
        strategy_reports(strategy, &mut ctx, &pending_reports, i, cfg, &mut res);
        strategy.on_bar(&mut ctx, bar);
        // Requests from callbacks are served until the strategy stops sending any. Each
        // order meets the quote on its other side, posted for it and withdrawn after.
        while !ctx.outbox.is_empty() {
            reports.clear();
            for req in ctx.outbox.drain(..) {
                match req {
                    Request::Submit(o, tif) => {
                        let (side, px) = if o.side == Side::Buy {
                            (Side::Sell, ask)
                        } else {
                            (Side::Buy, bid)
                        };
                        let liq = cfg.liquidity_lots;
                        lp_quote(&mut engine, side, px, liq, ts, &mut reports, |e, out| {
                            e.submit(&o, tif, ts, out)
                        });
                    }
                    Request::Cancel(id) => engine.cancel(id, ts, &mut reports),
                }
            }
            pending_reports.clear();
            pending_reports.extend(reports.iter().filter(|r| r.owner != LP_OWNER));
            strategy_reports(strategy, &mut ctx, &pending_reports, i, cfg, &mut res);
        }
        cash = ctx.cash;
        pos = ctx.position_lots;
        let position = pos as f64 * cfg.lot_size;
        res.position.push(position);
        res.cash.push(cash);
        res.equity.push(if pos != 0 {
            cash + position * bar.close
        } else {
            cash
        });
    }
    res.trades = exit_trades(&res.orders, n - 1, bars[n - 1].close);
    Ok(res)
}

/// Posts the liquidity provider's quote, runs `then` while it rests, withdraws it.
fn lp_quote(
    engine: &mut MatchingEngine,
    side: Side,
    price_ticks: i64,
    qty_lots: i64,
    ts: u64,
    out: &mut Vec<ExecReport>,
    then: impl FnOnce(&mut MatchingEngine, &mut Vec<ExecReport>),
) {
    let mut q = OrderRequest::limit(0, 0, side, price_ticks, qty_lots, LP_ID);
    q.strategy_id = LP_OWNER;
    engine.submit(&q, TimeInForce::Gtc, ts, out);
    then(engine, out);
    if engine.order(LP_ID).is_some() {
        engine.cancel(LP_ID, ts, out);
    }
}

/// Applies fills to the context's cash and position, records them, calls `on_report`.
fn strategy_reports<S: Strategy>(
    strategy: &mut S,
    ctx: &mut Context<'_>,
    reports: &[ExecReport],
    i: usize,
    cfg: &BarConfig,
    res: &mut BarResult,
) {
    for r in reports {
        if r.is_fill() {
            let notional =
                r.price_ticks as f64 * cfg.tick_size * r.last_qty_lots as f64 * cfg.lot_size;
            if r.side == Side::Buy {
                ctx.cash -= notional + r.fee_quote;
                ctx.position_lots += r.last_qty_lots;
            } else {
                ctx.cash += notional - r.fee_quote;
                ctx.position_lots -= r.last_qty_lots;
            }
            res.orders.push(Order {
                idx: i,
                size: r.last_qty_lots as f64 * cfg.lot_size,
                price: r.price_ticks as f64 * cfg.tick_size,
                fees: r.fee_quote,
                is_buy: r.side == Side::Buy,
            });
        }
        res.reports.push(*r);
        strategy.on_report(ctx, r);
    }
}

/// The EMA(fast) / EMA(slow) crossover, long only and all in: buys with all cash when
/// the fast EMA crosses above the slow one, sells everything when it crosses below
/// (the rule of [`cross_signals`](super::vectorized::cross_signals)).
#[derive(Debug, Clone)]
pub struct EmaCross {
    fast: crate::ta::stream::Ema,
    slow: crate::ta::stream::Ema,
    prev: Option<(f64, f64)>,
}

impl EmaCross {
    pub fn new(fast: usize, slow: usize) -> Result<EmaCross, crate::ta::TaError> {
        Ok(EmaCross {
            fast: crate::ta::stream::Ema::new(fast)?,
            slow: crate::ta::stream::Ema::new(slow)?,
            prev: None,
        })
    }
}

impl Strategy for EmaCross {
    fn on_bar(&mut self, ctx: &mut Context<'_>, bar: &Bar) {
        use crate::ta::stream::Indicator;
        let (f1, s1) = (self.fast.update(bar.close), self.slow.update(bar.close));
        let prev = self.prev.replace((f1, s1));
        let Some((f0, s0)) = prev else {
            return;
        };
        if f0.is_nan() || s0.is_nan() || f1.is_nan() || s1.is_nan() {
            return;
        }
        if f1 > s1 && f0 <= s0 && ctx.position_lots() == 0 {
            let lots = ctx.max_buy_lots();
            if lots > 0 {
                ctx.market(Side::Buy, lots);
            }
        } else if f1 < s1 && f0 >= s0 && ctx.position_lots() > 0 {
            let lots = ctx.position_lots();
            ctx.market(Side::Sell, lots);
        }
    }
}
