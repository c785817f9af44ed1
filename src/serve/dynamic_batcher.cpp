#include "serve/dynamic_batcher.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace edgerun::serve {
namespace {

thread_local bool t_on_worker = false;

double micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

// Jobs merge when every input agrees in dtype and in all dimensions after the first.
bool same_item_shape(const InferJob& a, const InferJob& b) {
  if (a.inputs.size() != b.inputs.size()) return false;
  for (size_t i = 0; i < a.inputs.size(); ++i) {
    const Tensor& x = a.inputs[i];
    const Tensor& y = b.inputs[i];
    if (x.dtype() != y.dtype() || x.rank() != y.rank() || x.rank() == 0) return false;
    if (!std::equal(x.shape().begin() + 1, x.shape().end(), y.shape().begin() + 1)) return false;
  }
  return true;
}

Tensor concat_dim0(const std::vector<InferJob>& jobs, size_t input, int64_t total) {
  Shape shape = jobs[0].inputs[input].shape();
  shape[0] = total;
  Tensor out(jobs[0].inputs[input].dtype(), shape);
  if (out.dtype() == DType::kString) {
    size_t k = 0;
    for (const auto& job : jobs)
      for (int64_t i = 0; i < job.inputs[input].numel(); ++i) out.data<std::string>()[k++] = job.inputs[input].data<std::string>()[i];
    return out;
  }
  size_t offset = 0;
  for (const auto& job : jobs) {
    const Tensor& t = job.inputs[input];
    if (t.nbytes()) std::memcpy(static_cast<char*>(out.raw()) + offset, t.raw(), t.nbytes());
    offset += t.nbytes();
  }
  return out;
}

Tensor slice_dim0(const Tensor& t, int64_t start, int64_t count) {
  Shape shape = t.shape();
  const int64_t row = shape[0] ? t.numel() / shape[0] : 0;
  shape[0] = count;
  Tensor out(t.dtype(), shape);
  if (t.dtype() == DType::kString) {
    for (int64_t i = 0; i < count * row; ++i) out.data<std::string>()[i] = t.data<std::string>()[start * row + i];
    return out;
  }
  const size_t row_bytes = static_cast<size_t>(row) * dtype_size(t.dtype());
  if (out.nbytes())
    std::memcpy(out.raw(), static_cast<const char*>(t.raw()) + static_cast<size_t>(start) * row_bytes, out.nbytes());
  return out;
}

}  // namespace

bool DynamicBatcher::on_worker_thread() { return t_on_worker; }

DynamicBatcher::DynamicBatcher(std::shared_ptr<Model> model, BatcherOptions options,
                               std::shared_ptr<ModelMetrics> metrics, std::string name)
    : model_(std::move(model)), options_(std::move(options)), metrics_(std::move(metrics)), name_(std::move(name)) {
  for (const auto& in : model_->inputs()) input_names_.push_back(in.name);
  const int instances = std::max(1, options_.instance_count);
  // Warm-up: plan and run once on zeros, so the first request does not pay for planning.
  std::map<std::string, Tensor> warm;
  bool can_warm = true;
  for (const auto& in : model_->inputs()) {
    if (!in.has_shape) {
      can_warm = false;
      break;
    }
    Shape s;
    for (const auto& d : in.dims) s.push_back(d.value >= 0 ? d.value : 1);
    warm.emplace(in.name, Tensor(in.dtype, s));
  }
  for (int i = 0; i < instances; ++i) {
    SessionOptions so;
    so.num_threads = options_.threads_per_instance;
    sessions_.push_back(std::make_unique<Session>(model_, so));
    if (can_warm) {
      try {
        sessions_.back()->run(warm);
      } catch (const Error& e) {
        throw Error(e.code(), name_ + ": warm-up inference on zeros failed: " + e.what());
      }
    }
  }
  for (auto& s : sessions_) {
    Session* session = s.get();
    workers_.emplace_back([this, session] { worker(*session); });
  }
}

DynamicBatcher::~DynamicBatcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& w : workers_) w.join();
}

bool DynamicBatcher::submit(InferJob& job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || queue_.size() >= options_.max_queue_size) return false;
    job.enqueued = Clock::now();
    queue_.push_back(std::move(job));
    metrics_->queued_requests.store(static_cast<int64_t>(queue_.size()));
  }
  // Every waiter may care: an idle worker, or the one gathering a batch.
  cv_.notify_all();
  return true;
}

size_t DynamicBatcher::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

void DynamicBatcher::worker(Session& session) {
  t_on_worker = true;
  const bool batching = options_.dynamic_batching && options_.max_batch_size > 0;
  for (;;) {
    std::vector<InferJob> batch, expired;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return (stopping_ && !forming_) || (!queue_.empty() && !forming_); });
      if (queue_.empty()) return;  // stopping, and every queued job has been taken
      const auto take_front = [&]() -> bool {
        InferJob job = std::move(queue_.front());
        queue_.pop_front();
        metrics_->queued_requests.store(static_cast<int64_t>(queue_.size()));
        if (Clock::now() > job.deadline) {
          expired.push_back(std::move(job));
          return false;
        }
        batch.push_back(std::move(job));
        return true;
      };
      while (batch.empty() && !queue_.empty()) take_front();
      if (batching && !batch.empty()) {
        forming_ = true;
        // With other instances idle, take only a fair share of the backlog and leave them the rest:
        // one instance running a batch of 8 while another idles is slower than two batches of 4.
        const int idle_others = static_cast<int>(sessions_.size()) - busy_ - 1;
        const size_t backlog = queue_.size() + 1;
        const size_t share = idle_others > 0 ? (backlog + static_cast<size_t>(idle_others)) / static_cast<size_t>(idle_others + 1)
                                             : SIZE_MAX;
        int64_t total = batch[0].batch_size;
        const auto deadline = batch[0].enqueued + std::chrono::microseconds(options_.max_queue_delay_us);
        const auto& preferred = options_.preferred_batch_size;
        while (total < options_.max_batch_size &&
               std::find(preferred.begin(), preferred.end(), total) == preferred.end()) {
          if (!queue_.empty()) {
            if (batch.size() >= share) break;
            const InferJob& next = queue_.front();
            if (!same_item_shape(batch[0], next) || total + next.batch_size > options_.max_batch_size) break;
            const int64_t n = next.batch_size;
            if (take_front()) total += n;
            continue;
          }
          if (stopping_ || Clock::now() >= deadline) break;
          cv_.wait_until(lock, deadline);
        }
        forming_ = false;
      }
      if (!batch.empty()) ++busy_;
    }
    cv_.notify_all();  // another worker may now gather the next batch
    for (auto& job : expired) {
      InferOutcome out;
      out.status = 504;
      out.error = name_ + ": request timed out after waiting " +
                  std::to_string(static_cast<int64_t>(micros(Clock::now() - job.enqueued))) + " us in the queue";
      out.queue_us = micros(Clock::now() - job.enqueued);
      job.done(std::move(out));
    }
    if (!batch.empty()) {
      execute(session, batch);
      std::lock_guard<std::mutex> lock(mu_);
      --busy_;
    }
  }
}

void DynamicBatcher::execute(Session& session, std::vector<InferJob>& batch) {
  const auto start = Clock::now();
  int64_t total = 0;
  for (const auto& job : batch) total += batch.size() > 1 ? job.batch_size : std::max<int64_t>(job.batch_size, 1);
  std::vector<InferOutcome> outcomes(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) outcomes[i].queue_us = micros(start - batch[i].enqueued);
  try {
    std::map<std::string, Tensor> feeds;
    for (size_t i = 0; i < input_names_.size(); ++i)
      feeds.emplace(input_names_[i], batch.size() == 1 ? batch[0].inputs[i] : concat_dim0(batch, i, total));
    std::vector<Tensor> outputs = session.run(feeds);
    for (auto& t : outputs)
      if (!t.owns_memory()) t = t.clone();  // the next run may reuse borrowed memory
    if (batch.size() == 1) {
      outcomes[0].outputs = std::move(outputs);
    } else {
      for (const auto& t : outputs)
        if (t.rank() == 0 || t.dim(0) != total)
          throw Error(ErrorCode::kRuntime, "output of shape " + shape_str(t.shape()) + " has no batch dimension of " +
                                               std::to_string(total) + ", so the batch cannot be split");
      int64_t offset = 0;
      for (size_t i = 0; i < batch.size(); ++i) {
        for (const auto& t : outputs) outcomes[i].outputs.push_back(slice_dim0(t, offset, batch[i].batch_size));
        offset += batch[i].batch_size;
      }
    }
  } catch (const Error& e) {
    for (auto& o : outcomes) {
      o.status = e.code() == ErrorCode::kInvalidArgument ? 400 : 500;
      o.error = name_ + ": " + e.what();
      o.outputs.clear();
    }
  } catch (const std::exception& e) {
    for (auto& o : outcomes) {
      o.status = 500;
      o.error = name_ + ": " + e.what();
      o.outputs.clear();
    }
  }
  const double compute_us = micros(Clock::now() - start);
  metrics_->execution_count.fetch_add(1, std::memory_order_relaxed);
  metrics_->inference_count.fetch_add(static_cast<uint64_t>(total), std::memory_order_relaxed);
  metrics_->compute_hist.observe_us(compute_us);
  for (size_t i = 0; i < batch.size(); ++i) {
    outcomes[i].compute_us = compute_us;
    metrics_->queue_hist.observe_us(outcomes[i].queue_us);
    metrics_->queue_duration_us.fetch_add(static_cast<uint64_t>(outcomes[i].queue_us), std::memory_order_relaxed);
    metrics_->compute_duration_us.fetch_add(static_cast<uint64_t>(compute_us), std::memory_order_relaxed);
    auto done = std::move(batch[i].done);
    batch[i].inputs.clear();
    done(std::move(outcomes[i]));
  }
}

}  // namespace edgerun::serve
