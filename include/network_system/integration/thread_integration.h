#pragma once

/// @file thread_integration.h
/// @brief Thread-pool integration of network_system: an abstract pool, a
/// standard-library implementation and a process-wide manager.
///
/// Nothing here touches the network. The pool exists because legacy code
/// (messaging_system) hands work to `thread_integration_manager` and expects
/// futures back; netsys itself runs its I/O on the Go event loops inside
/// libnetsys.so and never needs this pool.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <queue>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

namespace network_system::integration {

/// Abstract thread pool that network_system and legacy code submit work to.
/// Implement it to plug in another pool (e.g. thread_system's).
class thread_pool_interface {
public:
    /// Destroys the pool.
    virtual ~thread_pool_interface() = default;

    /// Queues @p task for execution. The future becomes ready when the task
    /// has run; it holds the task's exception if it threw.
    virtual std::future<void> submit(std::function<void()> task) = 0;

    /// Queues @p task to run no earlier than @p delay from now.
    virtual std::future<void> submit_delayed(std::function<void()> task,
                                             std::chrono::milliseconds delay) = 0;

    /// Number of worker threads.
    virtual std::size_t worker_count() const = 0;

    /// True until the pool is stopped.
    virtual bool is_running() const = 0;

    /// Tasks queued (immediate and delayed) that have not started yet.
    virtual std::size_t pending_tasks() const = 0;
};

/// A fixed-size pool of std::thread workers with support for delayed tasks.
///
/// Thread safety: every method may be called from any thread, including from
/// inside a task. Destroying the pool stops it, waiting for queued tasks.
class basic_thread_pool : public thread_pool_interface {
public:
    /// Starts @p num_threads workers (0 means std::thread::hardware_concurrency(),
    /// at least one).
    explicit basic_thread_pool(std::size_t num_threads = 0)
        : state_(std::make_shared<shared_state>()) {
        if (num_threads == 0) {
            num_threads = std::max(1u, std::thread::hardware_concurrency());
        }
        worker_total_ = num_threads;
        workers_.reserve(num_threads);
        for (std::size_t i = 0; i < num_threads; ++i) {
            // Workers own the queue state, so a pool destroyed by one of its
            // own tasks (its last shared_ptr released there) stays safe.
            workers_.emplace_back([state = state_] { worker_loop(*state); });
        }
    }

    /// Stops the pool, running the tasks already queued first.
    ~basic_thread_pool() override { stop(true); }

    basic_thread_pool(const basic_thread_pool&) = delete;
    basic_thread_pool& operator=(const basic_thread_pool&) = delete;
    basic_thread_pool(basic_thread_pool&&) = delete;
    basic_thread_pool& operator=(basic_thread_pool&&) = delete;

    /// Queues @p task. On a stopped pool the returned future holds a
    /// std::runtime_error instead of the task being silently dropped.
    std::future<void> submit(std::function<void()> task) override {
        return enqueue(std::move(task), clock::now(), false);
    }

    /// Queues @p task to run once @p delay has passed.
    std::future<void> submit_delayed(std::function<void()> task,
                                     std::chrono::milliseconds delay) override {
        return enqueue(std::move(task), clock::now() + delay, true);
    }

    /// Number of worker threads started.
    std::size_t worker_count() const override { return worker_total_; }

    /// True until stop() is called.
    bool is_running() const override { return state_->running.load(); }

    /// Tasks queued that have not started yet.
    std::size_t pending_tasks() const override {
        std::lock_guard<std::mutex> lock(state_->mutex);
        return state_->ready.size() + state_->delayed.size();
    }

    /// Stops the pool. With @p wait_for_tasks the queued tasks (delayed ones
    /// at their due time) run first; without it they are discarded and their
    /// futures report std::future_errc::broken_promise. Idempotent. Called
    /// from one of the pool's own tasks, it does not wait for that task.
    void stop(bool wait_for_tasks = true) {
        std::vector<std::thread> to_join;
        std::deque<task_item> discarded_ready;
        std::vector<task_item> discarded_delayed;
        {
            std::lock_guard<std::mutex> lock(state_->mutex);
            state_->running.store(false);
            state_->drain_on_stop = wait_for_tasks;
            if (!wait_for_tasks) {
                discarded_ready.swap(state_->ready);
                while (!state_->delayed.empty()) {
                    discarded_delayed.push_back(pop_top(state_->delayed));
                }
            }
            std::lock_guard<std::mutex> workers_lock(workers_mutex_);
            to_join.swap(workers_);
        }
        state_->wake.notify_all();
        // The discarded promises die here, outside the lock: their futures
        // then report broken_promise.
        discarded_ready.clear();
        discarded_delayed.clear();
        for (auto& worker : to_join) {
            if (worker.get_id() == std::this_thread::get_id()) {
                worker.detach();  // stop() called by one of our own tasks
            } else if (worker.joinable()) {
                worker.join();
            }
        }
    }

    /// Number of tasks that have finished (normally or by throwing).
    std::size_t completed_tasks() const { return state_->completed.load(); }

private:
    using clock = std::chrono::steady_clock;

    struct task_item {
        clock::time_point due;
        std::uint64_t sequence = 0;  // keeps equal due times in submission order
        std::function<void()> work;
        std::promise<void> done;
    };

    struct later_first {
        bool operator()(const task_item& a, const task_item& b) const {
            return a.due != b.due ? a.due > b.due : a.sequence > b.sequence;
        }
    };

    using delayed_queue = std::priority_queue<task_item, std::vector<task_item>, later_first>;

    struct shared_state {
        std::mutex mutex;
        std::condition_variable wake;
        std::deque<task_item> ready;
        delayed_queue delayed;
        std::uint64_t next_sequence = 0;
        std::atomic<bool> running{true};
        bool drain_on_stop = true;
        std::atomic<std::size_t> completed{0};
    };

    // priority_queue::top() is const; moving out of it right before pop()
    // is the usual way to extract a move-only element.
    static task_item pop_top(delayed_queue& queue) {
        task_item item = std::move(const_cast<task_item&>(queue.top()));
        queue.pop();
        return item;
    }

    std::future<void> enqueue(std::function<void()> task, clock::time_point due, bool delayed) {
        task_item item{due, 0, std::move(task), {}};
        std::future<void> result = item.done.get_future();
        if (!item.work) {
            item.done.set_exception(std::make_exception_ptr(
                std::invalid_argument("basic_thread_pool: empty task")));
            return result;
        }
        {
            std::lock_guard<std::mutex> lock(state_->mutex);
            if (!state_->running.load()) {
                item.done.set_exception(std::make_exception_ptr(
                    std::runtime_error("basic_thread_pool: pool is stopped")));
                return result;
            }
            item.sequence = state_->next_sequence++;
            if (delayed) {
                state_->delayed.push(std::move(item));
            } else {
                state_->ready.push_back(std::move(item));
            }
        }
        // notify_all: a new delayed task may be due before the one a
        // sleeping worker is timed to wake for.
        state_->wake.notify_all();
        return result;
    }

    static void worker_loop(shared_state& state) {
        std::unique_lock<std::mutex> lock(state.mutex);
        for (;;) {
            const auto now = clock::now();
            while (!state.delayed.empty() && state.delayed.top().due <= now) {
                state.ready.push_back(pop_top(state.delayed));
            }
            if (!state.ready.empty()) {
                task_item item = std::move(state.ready.front());
                state.ready.pop_front();
                lock.unlock();
                run(item, state.completed);
                lock.lock();
                continue;
            }
            if (!state.running.load() && (!state.drain_on_stop || state.delayed.empty())) {
                return;
            }
            if (state.delayed.empty()) {
                state.wake.wait(lock);
            } else {
                state.wake.wait_until(lock, state.delayed.top().due);
            }
        }
    }

    // Counts the task as completed before its future becomes ready, so a
    // caller that waited on the future sees it in completed_tasks().
    static void run(task_item& item, std::atomic<std::size_t>& completed) {
        try {
            item.work();
        } catch (...) {
            completed.fetch_add(1);
            item.done.set_exception(std::current_exception());
            return;
        }
        completed.fetch_add(1);
        item.done.set_value();
    }

    std::shared_ptr<shared_state> state_;
    std::mutex workers_mutex_;
    std::vector<std::thread> workers_;
    std::size_t worker_total_ = 0;
};

/// Process-wide access point to the thread pool legacy code submits to.
///
/// Thread safety: all methods are safe from any thread.
class thread_integration_manager {
public:
    /// Snapshot of the current pool's state.
    struct metrics {
        std::size_t worker_threads = 0;   ///< workers of the current pool
        std::size_t pending_tasks = 0;    ///< tasks not started yet
        std::size_t completed_tasks = 0;  ///< finished tasks (basic_thread_pool only)
        bool is_running = false;          ///< whether the pool accepts tasks
    };

    /// The single instance.
    static thread_integration_manager& instance() {
        static thread_integration_manager manager;
        return manager;
    }

    /// Replaces the pool used by submit_task (nullptr resets to a lazily
    /// created basic_thread_pool).
    void set_thread_pool(std::shared_ptr<thread_pool_interface> pool) {
        std::lock_guard<std::mutex> lock(mutex_);
        pool_ = std::move(pool);
    }

    /// The current pool; a basic_thread_pool is created on first use.
    std::shared_ptr<thread_pool_interface> get_thread_pool() {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!pool_) {
            pool_ = std::make_shared<basic_thread_pool>();
        }
        return pool_;
    }

    /// Submits @p task to the current pool.
    std::future<void> submit_task(std::function<void()> task) {
        return get_thread_pool()->submit(std::move(task));
    }

    /// Submits @p task to run after @p delay on the current pool.
    std::future<void> submit_delayed_task(std::function<void()> task,
                                          std::chrono::milliseconds delay) {
        return get_thread_pool()->submit_delayed(std::move(task), delay);
    }

    /// Snapshot of the current pool (all zero if none was created yet).
    metrics get_metrics() const {
        std::shared_ptr<thread_pool_interface> pool;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            pool = pool_;
        }
        metrics m;
        if (pool) {
            m.worker_threads = pool->worker_count();
            m.pending_tasks = pool->pending_tasks();
            m.is_running = pool->is_running();
            if (auto basic = std::dynamic_pointer_cast<basic_thread_pool>(pool)) {
                m.completed_tasks = basic->completed_tasks();
            }
        }
        return m;
    }

private:
    thread_integration_manager() = default;
    mutable std::mutex mutex_;
    std::shared_ptr<thread_pool_interface> pool_;
};

}  // namespace network_system::integration
