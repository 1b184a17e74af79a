//! A channel bounded by bytes, not messages.
//!
//! Each item holds permits for its size on a shared semaphore until the
//! receiver drops it, so the bytes in flight between a source and the writer
//! never exceed the budget however large or small the batches are. An item
//! larger than the whole budget waits for the channel to drain and then
//! takes the whole budget, so it still passes, alone.

use std::sync::Arc;

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

const UNIT: u64 = 1024;

/// Sending half.
pub struct BudgetSender<T> {
    tx: mpsc::UnboundedSender<Budgeted<T>>,
    sem: Arc<Semaphore>,
    capacity_units: u32,
}

impl<T> Clone for BudgetSender<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            sem: self.sem.clone(),
            capacity_units: self.capacity_units,
        }
    }
}

/// Receiving half.
pub struct BudgetReceiver<T> {
    rx: mpsc::UnboundedReceiver<Budgeted<T>>,
    sem: Arc<Semaphore>,
}

/// An item and the budget it holds; dropping it returns the budget.
pub struct Budgeted<T> {
    /// The item.
    pub item: T,
    _permit: Option<OwnedSemaphorePermit>,
}

/// A channel that holds at most `capacity_bytes` (rounded to KiB) in flight.
pub fn channel<T>(capacity_bytes: u64) -> (BudgetSender<T>, BudgetReceiver<T>) {
    let units = (capacity_bytes / UNIT).clamp(1, u32::MAX as u64 / 2) as u32;
    let sem = Arc::new(Semaphore::new(units as usize));
    let (tx, rx) = mpsc::unbounded_channel();
    (
        BudgetSender {
            tx,
            sem: sem.clone(),
            capacity_units: units,
        },
        BudgetReceiver { rx, sem },
    )
}

impl<T> BudgetSender<T> {
    /// Sends `item` of `bytes` size, waiting while the budget is spent.
    /// Returns the item back if the receiver is gone.
    pub async fn send(&self, item: T, bytes: u64) -> Result<(), T> {
        let units = bytes.div_ceil(UNIT).clamp(1, self.capacity_units as u64) as u32;
        let permit = match self.sem.clone().acquire_many_owned(units).await {
            Ok(p) => p,
            Err(_) => return Err(item),
        };
        self.tx
            .send(Budgeted {
                item,
                _permit: Some(permit),
            })
            .map_err(|e| e.0.item)
    }
}

impl<T> BudgetReceiver<T> {
    /// Next item, waiting in async code.
    pub async fn recv(&mut self) -> Option<Budgeted<T>> {
        self.rx.recv().await
    }

    /// Next item, blocking the thread (for the writer thread).
    pub fn blocking_recv(&mut self) -> Option<Budgeted<T>> {
        self.rx.blocking_recv()
    }

    /// Bytes held by items in flight or reserved by waiting senders (rounded to KiB).
    pub fn bytes_in_flight(&self, capacity_bytes: u64) -> u64 {
        let cap = (capacity_bytes / UNIT).max(1);
        cap.saturating_sub(self.sem.available_permits() as u64) * UNIT
    }
}

impl<T> Drop for BudgetReceiver<T> {
    fn drop(&mut self) {
        // Wake senders waiting for budget so they see the channel closed.
        self.sem.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn senders_wait_while_the_byte_budget_is_spent() {
        let (tx, mut rx) = channel::<u32>(10 * 1024);
        tx.send(1, 6 * 1024).await.unwrap();
        assert_eq!(rx.bytes_in_flight(10 * 1024), 6 * 1024);
        // 6 KiB held: a 6 KiB item must wait.
        let tx2 = tx.clone();
        let pending = tokio::spawn(async move { tx2.send(2, 6 * 1024).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!pending.is_finished(), "second item should wait for budget");
        let first = rx.recv().await.unwrap();
        assert_eq!(first.item, 1);
        drop(first);
        pending.await.unwrap().unwrap();
        assert_eq!(rx.recv().await.unwrap().item, 2);
    }

    #[tokio::test]
    async fn an_item_bigger_than_the_budget_still_passes_alone() {
        let (tx, mut rx) = channel::<&str>(4 * 1024);
        tx.send("huge", 100 * 1024 * 1024).await.unwrap();
        let got = rx.recv().await.unwrap();
        assert_eq!(got.item, "huge");
        assert_eq!(rx.bytes_in_flight(4 * 1024), 4 * 1024);
    }

    #[tokio::test]
    async fn sending_after_the_receiver_is_dropped_fails() {
        let (tx, rx) = channel::<u8>(1024);
        drop(rx);
        assert_eq!(tx.send(7, 10).await, Err(7));
    }
}
