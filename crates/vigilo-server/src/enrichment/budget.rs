//! The hourly budget: requests and tokens spent in the last hour.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const HOUR: Duration = Duration::from_secs(3600);

pub struct Budget {
    requests_per_hour: u32,
    tokens_per_hour: u64,
    /// (when, tokens) of each request in the last hour.
    spent: Mutex<VecDeque<(Instant, u64)>>,
}

impl Budget {
    pub fn new(requests_per_hour: u32, tokens_per_hour: u64) -> Self {
        Budget {
            requests_per_hour,
            tokens_per_hour,
            spent: Mutex::new(VecDeque::new()),
        }
    }

    /// Reserve one request, or say why the budget is spent.
    pub fn reserve(&self) -> Result<(), String> {
        let now = Instant::now();
        let mut spent = self.spent.lock().unwrap_or_else(|p| p.into_inner());
        while spent
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) >= HOUR)
        {
            spent.pop_front();
        }
        let requests = spent.len() as u64;
        let tokens: u64 = spent.iter().map(|(_, n)| n).sum();
        if requests >= u64::from(self.requests_per_hour) {
            return Err(format!(
                "budget spent: {requests} requests in the last hour (limit {})",
                self.requests_per_hour
            ));
        }
        if tokens >= self.tokens_per_hour {
            return Err(format!(
                "budget spent: {tokens} tokens in the last hour (limit {})",
                self.tokens_per_hour
            ));
        }
        spent.push_back((now, 0));
        Ok(())
    }

    /// Charge the tokens of the request reserved last.
    pub fn charge(&self, tokens: u64) {
        let mut spent = self.spent.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(last) = spent.back_mut() {
            last.1 += tokens;
        }
    }
}
