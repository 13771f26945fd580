use super::sync::SlotCell;

/// The preallocated storage: `capacity` slots, indexed by `sequence & mask`.
pub(crate) struct Ring<E> {
    slots: Box<[SlotCell<E>]>,
    mask: u64,
}

// SAFETY: slots are only touched under the sequence protocol (one writer per claimed
// sequence, readers only after publication), so sharing the ring across threads is sound
// whenever the events themselves can be sent.
unsafe impl<E: Send> Sync for Ring<E> {}
unsafe impl<E: Send> Send for Ring<E> {}

impl<E: Copy + Default> Ring<E> {
    pub(crate) fn new(capacity: usize) -> Self {
        debug_assert!(capacity.is_power_of_two());
        let slots = (0..capacity).map(|_| SlotCell::new(E::default())).collect();
        Ring {
            slots,
            mask: capacity as u64 - 1,
        }
    }

    /// # Safety
    /// See [`SlotCell::write`].
    #[inline(always)]
    pub(crate) unsafe fn write(&self, sequence: u64, event: E) {
        // SAFETY: the index is masked into bounds; exclusivity is the caller's contract.
        unsafe {
            self.slots
                .get_unchecked((sequence & self.mask) as usize)
                .write(event)
        }
    }

    /// # Safety
    /// See [`SlotCell::read`].
    #[inline(always)]
    pub(crate) unsafe fn read(&self, sequence: u64) -> E {
        // SAFETY: the index is masked into bounds; publication is the caller's contract.
        unsafe {
            self.slots
                .get_unchecked((sequence & self.mask) as usize)
                .read()
        }
    }
}
