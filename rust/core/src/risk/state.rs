//! The trading state (ACTIVE / REDUCING / HALTED), why it changed ([`StateReason`], with
//! stable codes), and the [`Event`] each change produces for the bus.
//!
//! A state-change event is an [`Event`] of kind [`EventKind::RiskState`] with:
//! `aux` = the [`StateReason`] code, `qty_lots` = the new [`TradingState`] code,
//! `price_ticks` = the previous state code, `instrument` = the instrument that tripped a
//! per-instrument breaker (or `u32::MAX`), `seq` = a per-engine change counter, and both
//! timestamps = the time of the change.

use crate::model::{Event, EventKind, Side};

/// Whether orders may go out.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TradingState {
    /// Every check applies; nothing else restricts orders.
    Active = 0,
    /// Only orders that shrink a position without flipping it are accepted.
    Reducing = 1,
    /// No order is accepted.
    Halted = 2,
}

impl TradingState {
    pub fn from_u8(value: u8) -> Option<TradingState> {
        match value {
            0 => Some(TradingState::Active),
            1 => Some(TradingState::Reducing),
            2 => Some(TradingState::Halted),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TradingState::Active => "active",
            TradingState::Reducing => "reducing",
            TradingState::Halted => "halted",
        }
    }
}

/// Why the trading state changed. Codes are stable (they travel in `Event::aux`).
#[repr(u16)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum StateReason {
    #[error("state set by the operator")]
    Manual = 100,
    #[error("breakers reset by the operator")]
    Reset = 101,
    #[error("kill switch")]
    KillSwitch = 102,
    #[error("drawdown from peak equity above the limit")]
    Drawdown = 103,
    #[error("daily loss above the limit")]
    DailyLoss = 104,
    #[error("reference price moved more than the limit within the window")]
    Volatility = 105,
    #[error("venue reject rate above the limit")]
    RejectRate = 106,
    #[error("error rate above the limit")]
    ErrorRate = 107,
    #[error("reference price data is stale")]
    StaleData = 108,
}

impl StateReason {
    pub const ALL: [StateReason; 9] = [
        StateReason::Manual,
        StateReason::Reset,
        StateReason::KillSwitch,
        StateReason::Drawdown,
        StateReason::DailyLoss,
        StateReason::Volatility,
        StateReason::RejectRate,
        StateReason::ErrorRate,
        StateReason::StaleData,
    ];

    pub fn code(self) -> u16 {
        self as u16
    }

    pub fn from_code(code: u16) -> Option<StateReason> {
        StateReason::ALL.iter().copied().find(|r| r.code() == code)
    }

    /// Bit of this reason in [`Breakers::tripped`](super::breaker::Breakers::tripped)
    /// (manual and reset are not breakers and have none).
    pub(crate) fn bit(self) -> u16 {
        1 << (self.code() - 100)
    }
}

/// One change of trading state, as the caller sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateChange {
    pub from: TradingState,
    pub to: TradingState,
    pub reason: StateReason,
    /// The instrument that tripped a per-instrument breaker.
    pub instrument: Option<u32>,
    pub ts_ns: u64,
    /// Per-engine counter of changes, from 1.
    pub seq: u64,
}

impl StateChange {
    /// The bus event of this change (layout in the module docs).
    pub fn to_event(&self) -> Event {
        Event {
            ts_event_ns: self.ts_ns,
            ts_recv_ns: self.ts_ns,
            seq: self.seq,
            price_ticks: self.from as i64,
            qty_lots: self.to as i64,
            id: 0,
            aux: i64::from(self.reason.code()),
            instrument: self.instrument.unwrap_or(u32::MAX),
            kind: EventKind::RiskState as u8,
            side: Side::None as u8,
            venue: 0,
            flags: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_change_event_carries_reason_and_states() {
        let c = StateChange {
            from: TradingState::Active,
            to: TradingState::Halted,
            reason: StateReason::Drawdown,
            instrument: None,
            ts_ns: 42,
            seq: 3,
        };
        let e = c.to_event();
        assert_eq!(e.event_kind(), Some(EventKind::RiskState));
        assert_eq!(e.aux, 103);
        assert_eq!(e.qty_lots, 2);
        assert_eq!(e.price_ticks, 0);
        assert_eq!(e.instrument, u32::MAX);
        assert_eq!((e.ts_event_ns, e.seq), (42, 3));
        assert_eq!(e.validate(), Ok(()));
        for r in StateReason::ALL {
            assert_eq!(StateReason::from_code(r.code()), Some(r));
        }
        for s in [
            TradingState::Active,
            TradingState::Reducing,
            TradingState::Halted,
        ] {
            assert_eq!(TradingState::from_u8(s as u8), Some(s));
        }
        assert_eq!(TradingState::from_u8(3), None);
    }
}
