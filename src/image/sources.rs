//! The image's sources: `root=`'s URL, then each `diskless.mirror=`, tried in turn. A source
//! that cannot serve the image during this boot is dropped; the rest rotate.

use super::failure::Failure;

#[derive(Debug, Clone)]
struct Source {
    url: String,
    dropped: bool,
    last_failure: Option<Failure>,
}

/// The URLs to fetch from, in order, and which one is next.
#[derive(Debug, Clone)]
pub struct Sources {
    list: Vec<Source>,
    current: usize,
}

impl Sources {
    /// The URLs in order, duplicates removed (a mirror equal to `root=` adds nothing).
    pub fn new(urls: impl IntoIterator<Item = String>) -> Sources {
        let mut list: Vec<Source> = Vec::new();
        for url in urls {
            if !list.iter().any(|s| s.url == url) {
                list.push(Source {
                    url,
                    dropped: false,
                    last_failure: None,
                });
            }
        }
        Sources { list, current: 0 }
    }

    /// The source to try now: its index and URL.
    pub fn current(&self) -> (usize, &str) {
        let url = self.list.get(self.current).map_or("", |s| s.url.as_str());
        (self.current, url)
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Remembers why the current source failed.
    pub fn record(&mut self, failure: Failure) {
        if let Some(source) = self.list.get_mut(self.current) {
            source.last_failure = Some(failure);
        }
    }

    /// Gives up on the current source for this fetch.
    pub fn drop_current(&mut self) {
        if let Some(source) = self.list.get_mut(self.current) {
            source.dropped = true;
        }
    }

    /// Moves to the next source not given up on. `Some(true)` when that went round the end
    /// of the list (every source had its turn: time to back off), `None` when none is left.
    pub fn advance(&mut self) -> Option<bool> {
        let n = self.list.len();
        (1..=n).find_map(|step| {
            let index = (self.current + step) % n;
            let live = self.list.get(index).is_some_and(|s| !s.dropped);
            live.then(|| {
                let wrapped = index <= self.current;
                self.current = index;
                wrapped
            })
        })
    }

    /// The last failure of every source that failed, in order.
    pub fn failures(&self) -> Vec<(String, Failure)> {
        self.list
            .iter()
            .filter_map(|s| s.last_failure.clone().map(|f| (s.url.clone(), f)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_rotate_skip_dropped_and_say_when_a_round_is_done() {
        let mut s = Sources::new(["a", "b", "a", "c"].map(String::from));
        assert_eq!(s.current(), (0, "a"));
        assert_eq!(s.advance(), Some(false));
        assert_eq!(s.current(), (1, "b"));
        s.drop_current();
        assert_eq!(s.advance(), Some(false));
        assert_eq!(s.current(), (2, "c"));
        assert_eq!(s.advance(), Some(true));
        assert_eq!(s.current(), (0, "a"));
        s.drop_current();
        assert_eq!(s.advance(), Some(false));
        assert_eq!(s.current(), (2, "c"));
        assert_eq!(s.advance(), Some(true), "a single source is its own round");
        s.drop_current();
        assert_eq!(s.advance(), None);
        let mut one = Sources::new(["x".to_owned()]);
        one.record(Failure::Status(500));
        assert_eq!(one.failures(), [("x".to_owned(), Failure::Status(500))]);
    }
}
