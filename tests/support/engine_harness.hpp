// Runs the real engine in-process the way the engine tests do, so that each test states only
// its plan, what it changes in the options and what it waits for:
//
//   Plan plan;  // outlives the harness: the engine reads it while it runs
//   testing::add_target(plan, TargetSpec{.port = up.port});
//   testing::EngineHarness run(plan, testing::engine_options("tcp-basic"));
//   ASSERT_TRUE(run.start());
//   EXPECT_TRUE(run.wait([](const report::Snapshot& s) { ... }, std::chrono::seconds(5)));
//
// Every wait is bounded and keeps the engine's main-thread duties (heartbeat, transition log,
// resolver counters) running; the destructor stops the engine and removes its segment, so a
// test that ends early on an ASSERT leaves nothing running and nothing in /dev/shm.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "common/assert.hpp"
#include "common/result.hpp"
#include "config/plan.hpp"
#include "engine/engine.hpp"
#include "report/names.hpp"
#include "report/reader.hpp"
#include "support/unique_name.hpp"

namespace ringprobe::testing {

// The options engine tests start from: a segment of the test's own (unique_name), two
// workers, no transition log. Tests change what they are about on the copy they get.
inline engine::EngineOptions engine_options(const char* what, unsigned workers = 2) {
    engine::EngineOptions o;
    o.name = unique_name(what);
    o.workers = workers;
    o.log = nullptr;
    return o;
}

using SnapshotPred = std::function<bool(const report::Snapshot&)>;

class EngineHarness {
public:
    // The plan must outlive the harness (the engine keeps a reference to it).
    EngineHarness(const Plan& plan, engine::EngineOptions options)
        : options_(std::move(options)), engine_(plan, options_) {}
    ~EngineHarness() {
        engine_.stop();
        ::unlink(report::segment_path(options_.name).c_str());
    }
    EngineHarness(const EngineHarness&) = delete;
    EngineHarness& operator=(const EngineHarness&) = delete;

    // Starts the workers, then opens the report (open_report).
    Result<void> start() {
        auto started = engine_.start();
        if (!started) {
            return started;
        }
        return open_report();
    }

    // Opens the report through the one mapping every wait reads (opened before a test takes
    // descriptors away, it keeps working without them). start() calls it; a benchmark that
    // times the engine's start alone calls engine().start() and then this.
    Result<void> open_report() {
        auto rep = report::Report::open(options_.name);
        if (!rep) {
            return error("report " + options_.name + ": " + rep.error().message);
        }
        report_.emplace(std::move(*rep));
        return {};
    }

    // Ticks the engine in 2 ms steps until pred holds on the report (true) or the budget runs
    // out (false).
    bool wait(const SnapshotPred& pred, std::chrono::milliseconds budget) {
        if (!report_) {
            return false;
        }
        const auto until = std::chrono::steady_clock::now() + budget;
        while (std::chrono::steady_clock::now() < until) {
            engine_.tick(2'000'000);
            if (pred(report_->snapshot({}))) {
                return true;
            }
        }
        return false;
    }

    // Ticks the engine for d in steps of tick_ns, reading nothing (no allocation of its own).
    void run_for(std::chrono::milliseconds d, std::uint64_t tick_ns = 2'000'000) {
        const auto until = std::chrono::steady_clock::now() + d;
        while (std::chrono::steady_clock::now() < until) {
            engine_.tick(tick_ns);
        }
    }

    void stop() { engine_.stop(); }

    // Applies a new plan (Engine::reload), then follows the report to the new segment.
    Result<engine::ReloadSummary> reload(std::unique_ptr<Plan> next) {
        auto r = engine_.reload(std::move(next));
        if (r && !r->unchanged) {
            if (auto opened = open_report(); !opened) {
                return unexpected(opened.error());
            }
        }
        return r;
    }

    // The report once start() succeeded; a test asserts that first.
    report::Snapshot snapshot(const report::SnapshotOptions& o = {}) const {
        RP_ASSERT(report_.has_value());
        return report_->snapshot(o);
    }
    const report::Report& report() const {
        RP_ASSERT(report_.has_value());
        return *report_;
    }
    engine::Engine& engine() { return engine_; }
    engine::EngineTotals totals() const { return engine_.totals(); }
    const std::string& name() const { return options_.name; }

private:
    engine::EngineOptions options_;
    engine::Engine engine_;
    std::optional<report::Report> report_;
};

}  // namespace ringprobe::testing
