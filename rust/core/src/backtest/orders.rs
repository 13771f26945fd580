//! What the bar simulation and the paper session share about a strategy's orders: the
//! order log's records, the report a risk refusal makes, and keeping the risk engine in
//! step with the venue's reports.

use super::event::{OrderRecord, SimReport};
use crate::model::{Fill, OrderRequest, OrderType, TimeInForce};
use crate::risk::{RejectReason, RiskEngine};
use crate::venue::{ExecKind, ExecReport, Liquidity, OrderView};

impl OrderRecord {
    /// The record of an order just sent, at step `index` (a bar, or a market event).
    pub fn opened(o: &OrderRequest, tif: TimeInForce, index: usize) -> OrderRecord {
        OrderRecord {
            client_order_id: o.client_order_id,
            side: o.side,
            order_type: o.order_type,
            tif,
            price_ticks: if o.order_type == OrderType::Market {
                0
            } else {
                o.price_ticks
            },
            qty_lots: o.qty_lots,
            filled_lots: 0,
            filled_ticks_lots: 0.0,
            fees_quote: 0.0,
            status: ExecKind::New,
            reason_code: 0,
            bar_submitted: index,
            ts_submitted_ns: o.ts_ns,
            bar_updated: index,
            ts_updated_ns: o.ts_ns,
        }
    }

    /// Books a report of this order at step `index`; returns whether it finished the order.
    /// A refused cancel or replace leaves the order as it was.
    pub fn apply(&mut self, s: &SimReport, index: usize) -> bool {
        let r = &s.report;
        if r.kind == ExecKind::Rejected && !r.is_final() {
            return false;
        }
        self.status = r.kind;
        self.bar_updated = index;
        self.ts_updated_ns = r.ts_event_ns;
        if r.is_fill() {
            self.filled_lots += r.last_qty_lots;
            self.filled_ticks_lots += r.price_ticks as f64 * r.last_qty_lots as f64;
            self.fees_quote += r.fee_quote;
        }
        if r.kind == ExecKind::Replaced {
            self.price_ticks = r.price_ticks;
            self.qty_lots = r.cum_qty_lots + r.leaves_qty_lots;
        }
        if r.is_final() {
            self.reason_code = s.reason_code();
        }
        r.is_final()
    }
}

impl SimReport {
    /// The `Rejected` report of an order the risk engine refused (the venue never saw it:
    /// `seq` 0, stamped with the order's time).
    pub fn risk_refusal(o: &OrderRequest, reason: RejectReason) -> SimReport {
        SimReport {
            report: ExecReport {
                kind: ExecKind::Rejected,
                client_order_id: o.client_order_id,
                instrument: o.instrument,
                side: o.side,
                owner: 0,
                price_ticks: o.price_ticks,
                last_qty_lots: 0,
                leaves_qty_lots: 0,
                cum_qty_lots: 0,
                fee_quote: 0.0,
                liquidity: Liquidity::None,
                reason: None,
                trade_id: 0,
                ts_event_ns: o.ts_ns,
                ts_recv_ns: o.ts_ns,
                seq: 0,
            },
            risk: Some(reason),
        }
    }

    /// The `Rejected` report of a replace the risk engine refused: the order keeps
    /// working as it was, so the report carries its live quantities (not final), as the
    /// venue's own refusal of a replace does.
    pub fn risk_replace_refusal(w: &OrderView, reason: RejectReason, ts_ns: u64) -> SimReport {
        SimReport {
            report: ExecReport {
                kind: ExecKind::Rejected,
                client_order_id: w.client_order_id,
                instrument: w.instrument,
                side: w.side,
                owner: w.owner,
                price_ticks: w.price_ticks,
                last_qty_lots: 0,
                leaves_qty_lots: w.leaves_qty_lots,
                cum_qty_lots: w.cum_qty_lots,
                fee_quote: 0.0,
                liquidity: Liquidity::None,
                reason: None,
                trade_id: 0,
                ts_event_ns: ts_ns,
                ts_recv_ns: ts_ns,
                seq: 0,
            },
            risk: Some(reason),
        }
    }
}

/// The risk engine's verdict on a replace of order `id` (None: go ahead, also without a
/// risk engine or for an order it no longer knows, which the venue then answers).
/// `at_venue`: the venue's view of the order, whose live quantities a refusal reports;
/// an order still on its way there is reported as the risk engine knows it.
pub(super) fn replace_refusal(
    risk: Option<&mut RiskEngine>,
    id: u64,
    at_venue: Option<OrderView>,
    price_ticks: i64,
    qty_lots: i64,
    now_ns: u64,
) -> Option<SimReport> {
    let risk = risk?;
    let reason = risk
        .check_replace(id, price_ticks, qty_lots, now_ns)
        .err()?;
    let w = at_venue.or_else(|| {
        risk.working_order(id).map(|w| OrderView {
            client_order_id: id,
            instrument: w.instrument,
            side: w.side,
            owner: w.strategy_id,
            tif: TimeInForce::Gtc,
            price_ticks: w.price_ticks,
            leaves_qty_lots: w.remaining_lots,
            cum_qty_lots: 0,
        })
    })?;
    Some(SimReport::risk_replace_refusal(&w, reason, now_ns))
}

/// Keeps the risk engine's working orders and positions in step with a venue report;
/// false when the engine refused the update (an order state it did not expect).
pub fn sync_risk(risk: &mut RiskEngine, r: &ExecReport) -> bool {
    match r.kind {
        ExecKind::PartiallyFilled | ExecKind::Filled => risk
            .on_fill(&Fill {
                client_order_id: r.client_order_id,
                instrument: r.instrument,
                side: r.side,
                price_ticks: r.price_ticks,
                qty_lots: r.last_qty_lots,
                fee_quote: r.fee_quote,
                ts_ns: r.ts_event_ns,
            })
            .is_ok(),
        // A market order's unfilled rest: the risk engine forgets the order.
        ExecKind::Cancelled => {
            risk.working_order(r.client_order_id).is_none()
                || risk.on_order_done(r.client_order_id).is_ok()
        }
        // A cancel or replace that lost the race with a fill names a finished order the
        // engine has already forgotten.
        ExecKind::Rejected if r.is_final() => {
            risk.working_order(r.client_order_id).is_none()
                || risk
                    .on_order_rejected(r.client_order_id, r.ts_event_ns)
                    .is_ok()
        }
        ExecKind::Replaced => match risk.working_order(r.client_order_id) {
            None => true,
            Some(w) => {
                let mut o = OrderRequest::limit(
                    w.instrument,
                    0,
                    w.side,
                    r.price_ticks,
                    r.leaves_qty_lots,
                    r.client_order_id,
                );
                o.order_type = w.order_type;
                o.strategy_id = w.strategy_id;
                o.reduce_only = w.reduce_only;
                risk.on_order_done(r.client_order_id).is_ok() && risk.on_order_accepted(&o).is_ok()
            }
        },
        _ => true,
    }
}

/// The lots `cash` buys at `ask` (quote currency per unit) with the taker fee included,
/// floored to the lot (vectorbt's all-in size); 0 when the ask is unknown.
pub fn all_in_lots(cash: f64, taker_fee: f64, ask: f64, lot_size: f64) -> i64 {
    let lots = cash / (1.0 + taker_fee) / ask / lot_size;
    if lots.is_finite() && lots > 0.0 {
        // A hair under the exact quotient so float noise never buys more than cash.
        (lots * (1.0 - 1e-12)).floor() as i64
    } else {
        0
    }
}

/// The kill switch's shared half: halts trading in the risk engine and lists the working
/// orders to cancel (`open`: the venue's working orders, so an order the risk engine has
/// not yet seen acknowledged is cancelled too). `None` without a risk engine.
pub(super) fn halt_and_list<'a>(
    risk: Option<&mut RiskEngine>,
    now_ns: u64,
    open: &'a [OrderView],
) -> Option<impl Iterator<Item = u64> + 'a> {
    risk?.kill_switch(now_ns);
    Some(open.iter().map(|o| o.client_order_id))
}
