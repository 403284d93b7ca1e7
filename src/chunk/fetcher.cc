#include "chunk/fetcher.h"

#include <cstring>
#include <utility>

namespace shoal::chunk {
namespace {

std::string Damaged() {
  return "the volume's data is damaged; run fsck on the volume to find the files affected";
}

// Times a read looks in the cache again because a fetch ended meanwhile.
constexpr int kCacheRounds = 3;

}  // namespace

struct Fetcher::Flight {
  // Set at creation, then read-only.
  std::string key;
  uint64_t slice_id = 0;
  uint32_t index = 0;
  uint64_t offset = 0;  // range fetched: the whole block, or (uncached) the piece
  uint64_t length = 0;
  uint64_t charge = 0;      // readahead budget held until unregistered

  std::atomic<bool> claimed{false};
  std::mutex mu;
  std::condition_variable done_cv;
  bool done = false;  // guarded by mu; status and data are fixed once it is set
  Status status;
  std::string data;
};

Fetcher::Fetcher(object::ObjectStore& store, cache::BlockCache* cache, TaskPool& pool,
                 TaskPool* fill_pool, uint64_t readahead_budget)
    : store_(store),
      cache_(cache),
      pool_(pool),
      fill_pool_(fill_pool),
      readahead_budget_(readahead_budget) {}

Status Fetcher::Read(const std::vector<Piece>& pieces, char* dst) {
  struct Wanted {
    const Piece* piece;
    FlightPtr flight;
    bool mine;  // made by this read
  };
  std::vector<Wanted> wanted;
  wanted.reserve(pieces.size());
  for (const Piece& p : pieces) {
    bool made = false;
    FlightPtr f = Lookup(p, dst, &made);
    if (!f) continue;  // served by the cache
    wanted.push_back({&p, std::move(f), made});
  }
  // The pool takes all but the first of the flights made here; this thread
  // starts on the first.
  bool first = true;
  for (const Wanted& w : wanted) {
    if (!w.mine) continue;
    if (first) {
      first = false;
      continue;
    }
    (void)pool_.Submit([this, f = w.flight] { RunIfUnclaimed(f); }, TaskPool::Priority::kHigh);
  }
  // Run every flight no worker has started yet before waiting for any, so
  // that this thread never idles while a block it needs is still queued.
  for (const Wanted& w : wanted) RunIfUnclaimed(w.flight);
  for (Wanted& w : wanted) {
    Status st = Wait(w.flight);
    if (!st.ok() && !w.mine && cache_ != nullptr) {
      // Someone else's fetch failed; it may have started before whatever
      // broke it went away. One more try of our own (still single flight).
      bool made = false;
      w.flight = Lookup(*w.piece, dst, &made);
      if (!w.flight) continue;
      RunIfUnclaimed(w.flight);
      st = Wait(w.flight);
    }
    RETURN_IF_ERROR(st);
    const Flight& f = *w.flight;
    const uint64_t from = w.piece->off - f.offset;
    std::memcpy(dst + w.piece->dst, f.data.data() + from, w.piece->len);
  }
  return OkStatus();
}

Fetcher::FlightPtr Fetcher::Lookup(const Piece& p, char* dst, bool* made) {
  *made = false;
  if (cache_ == nullptr) {
    ++misses_;
    auto f = std::make_shared<Flight>();
    f->key = p.key;
    f->slice_id = p.slice_id;
    f->index = p.index;
    f->offset = p.off;
    f->length = p.len;
    *made = true;
    return f;
  }
  // Each round that finds no flight while another one ended looks in the
  // cache again; after a few, fetch anyway rather than spin.
  for (int round = 0;; ++round) {
    const uint64_t generation = generation_.load();
    std::optional<std::string> hit = cache_->Get(p.key, p.off, p.len);
    if (hit.has_value() && hit->size() == p.len) {
      ++hits_;
      std::memcpy(dst + p.dst, hit->data(), p.len);
      return nullptr;
    }
    FlightPtr f = Join(p, round < kCacheRounds ? generation : kAnyGeneration, made);
    if (f) {
      ++misses_;
      if (!*made) ++joined_;
      return f;
    }
  }
}

Fetcher::PrefetchResult Fetcher::Prefetch(const std::string& key, uint64_t slice_id, uint32_t index,
                                          uint32_t block_len) {
  if (cache_ == nullptr || stopping_ || block_len == 0) return PrefetchResult::kPresent;
  auto f = std::make_shared<Flight>();
  f->key = key;
  f->slice_id = slice_id;
  f->index = index;
  f->length = block_len;
  f->charge = block_len;
  for (int round = 0;; ++round) {
    const uint64_t generation = generation_.load();
    {
      std::lock_guard lock(mu_);
      if (flights_.contains(key)) return PrefetchResult::kPresent;
    }
    if (cache_->Contains(key)) return PrefetchResult::kPresent;
    // Reserve the budget first, so that the flights in the map never exceed it.
    uint64_t used = readahead_in_flight_.load();
    do {
      if (used + block_len > readahead_budget_) {
        ++readahead_skipped_;
        return PrefetchResult::kNoBudget;
      }
    } while (!readahead_in_flight_.compare_exchange_weak(used, used + block_len));
    std::lock_guard lock(mu_);
    if (flights_.contains(key)) {
      readahead_in_flight_ -= block_len;
      return PrefetchResult::kPresent;
    }
    // A flight ended since we looked in the cache, maybe this block's: look again.
    if (round < kCacheRounds && generation_.load() != generation) {
      readahead_in_flight_ -= block_len;
      continue;
    }
    flights_.emplace(key, f);
    break;
  }
  ++readahead_issued_;
  if (!pool_.Submit([this, f] { RunIfUnclaimed(f); }, TaskPool::Priority::kLow)) {
    // No thread to run it: a reader that wants the block claims it itself,
    // but nobody else would, so drop it now.
    if (!f->claimed.exchange(true)) {
      Finish(f, Unavailable("no thread to prefetch block " + key), {});
    }
  }
  return PrefetchResult::kIssued;
}

Fetcher::FlightPtr Fetcher::Join(const Piece& p, uint64_t generation, bool* created) {
  std::lock_guard lock(mu_);
  auto it = flights_.find(p.key);
  if (it != flights_.end()) {
    *created = false;
    return it->second;
  }
  if (generation != kAnyGeneration && generation_.load() != generation) return nullptr;
  auto f = std::make_shared<Flight>();
  f->key = p.key;
  f->slice_id = p.slice_id;
  f->index = p.index;
  f->length = p.block_len;
  flights_.emplace(p.key, f);
  *created = true;
  return f;
}

void Fetcher::RunIfUnclaimed(const FlightPtr& f) {
  if (!f->claimed.exchange(true)) Run(f);
}

void Fetcher::Run(const FlightPtr& f) {
  if (stopping_) {
    Finish(f, Unavailable("the block store is shutting down; block " + f->key + " not fetched"),
           {});
    return;
  }
  ++gets_in_flight_;
  Result<std::string> got = FetchFromStore(*f);
  --gets_in_flight_;
  if (!got.has_value()) {
    ++fetch_errors_;
    Finish(f, got.error(), {});
    return;
  }
  Finish(f, OkStatus(), std::move(*got));
}

Result<std::string> Fetcher::FetchFromStore(const Flight& f) {
  ++fetches_;
  Result<std::string> got = store_.Get(f.key, f.offset, f.length);
  if (!got.has_value()) {
    if (got.error().code() == Code::kNotFound) {
      return IoError("object " + f.key + " is missing (expected " + std::to_string(f.length) +
                     " bytes at offset " + std::to_string(f.offset) + ", got none): " + Damaged());
    }
    return got.error().Annotate("reading block " + std::to_string(f.index) + " of slice " +
                                std::to_string(f.slice_id) + " from " + f.key);
  }
  fetched_bytes_ += got->size();
  if (got->size() < f.length) {
    return IoError("object " + f.key + " is short (expected " + std::to_string(f.length) +
                   " bytes at offset " + std::to_string(f.offset) + ", got " +
                   std::to_string(got->size()) + "): " + Damaged());
  }
  if (got->size() > f.length) {
    return IoError("object store " + store_.Describe() + " returned " +
                   std::to_string(got->size()) + " bytes of " + f.key + " for a read of " +
                   std::to_string(f.length) + "; the store does not honour range reads");
  }
  return got;
}

void Fetcher::Finish(const FlightPtr& f, Status status, std::string data) {
  const bool ok = status.ok();
  {
    std::lock_guard lock(f->mu);
    f->status = std::move(status);
    f->data = std::move(data);
    f->done = true;
  }
  f->done_cv.notify_all();
  // Without a cache, flights are private (never in flights_).
  if (cache_ == nullptr) return;
  // Waiters are already copying from the flight; new readers still find it
  // until the block is in the cache, so the cache write costs them nothing.
  if (ok && QueueFill(f)) return;
  if (ok) cache_->Put(f->key, f->data);
  Unregister(f);
}

bool Fetcher::QueueFill(const FlightPtr& f) {
  if (fill_pool_ == nullptr) return false;
  const uint64_t size = f->data.size();
  if (pending_fill_.fetch_add(size) + size > kMaxPendingFill) {
    pending_fill_ -= size;
    return false;
  }
  auto fill = [this, f, size] {
    cache_->Put(f->key, f->data);
    Unregister(f);
    pending_fill_ -= size;
  };
  if (!fill_pool_->Submit(fill, TaskPool::Priority::kLow)) {
    pending_fill_ -= size;
    return false;
  }
  return true;
}

Status Fetcher::Wait(const FlightPtr& f) {
  std::unique_lock lock(f->mu);
  f->done_cv.wait(lock, [&] { return f->done; });
  return f->status;
}

void Fetcher::Unregister(const FlightPtr& f) {
  {
    std::lock_guard lock(mu_);
    auto it = flights_.find(f->key);
    if (it != flights_.end() && it->second == f) flights_.erase(it);
    ++generation_;
  }
  if (f->charge > 0) readahead_in_flight_ -= f->charge;
}

void Fetcher::FillStats(BlockStoreStats* s) const {
  s->read_hits = hits_;
  s->read_misses = misses_;
  s->joined = joined_;
  s->fetches = fetches_;
  s->fetched_bytes = fetched_bytes_;
  s->fetch_errors = fetch_errors_;
  s->gets_in_flight = gets_in_flight_;
  s->readahead_issued = readahead_issued_;
  s->readahead_skipped = readahead_skipped_;
  s->readahead_bytes_in_flight = readahead_in_flight_;
}

}  // namespace shoal::chunk
