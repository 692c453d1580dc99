// Coordinator benchmarks over real gRPC on loopback against a `sparsescale-coordinator` child
// process with a real SQLite file (no training):
//   schedule: N tiny jobs leased and completed by W concurrent worker clients (jobs/s);
//             baseline in the same run: one worker client.
//   ingest:   S concurrent streams of ReportPoints batches (points/s, ack latency p50/p99);
//             baseline in the same run: the same load with group commit off (one commit per
//             request), and the same load with the job_curves rows for the SQL views off.
//   curve:    GetLossCurve latency and coordinator RSS with J jobs x P points stored.
//   dashboard: latency of every dashboard HTTP endpoint with J jobs x P points stored (one
//             sweep of them); then paced ingestion with and without a 10 Hz poller of the
//             dashboard endpoints (baseline in the same run: without).
//   auth:     the Gatekeeper's cost on the hot path: the ingest load (closed loop and paced)
//             with a worker token (rate limit set out of reach: checked, never refusing), then
//             the same over TLS; baseline in the same run: --auth none, plain text.
//   checkpoint: UploadCheckpoint and DownloadCheckpoint MB/s of M-MiB payloads in 1 MiB
//             chunks, payloads in SQLite (baseline in the same run) vs --checkpoint-dir.
#include <atomic>
#include <functional>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/synchronization/mutex.h"
#include "bench/coordinator/bench_util.h"
#include "bench/coordinator/http_get.h"
#include "common/sha256.h"
#include "coordinator/store/store_writer.h"

namespace sparsescale::bench {
namespace {

namespace v1 = sparsescale::v1;

// Bearer tokens the calls carry ("" = none): the client service's (admin) and the worker
// service's (a worker token). Set before any thread starts (the auth mode).
struct Bearers {
  std::string client;
  std::string worker;
};
Bearers g_bearers;

std::unique_ptr<grpc::ClientContext> Context(const std::string& bearer, int timeout_s) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout_s));
  if (!bearer.empty()) {
    ctx->AddMetadata("authorization", "Bearer " + bearer);
  }
  return ctx;
}
// A context for a client-service call, and one for a worker-service call.
std::unique_ptr<grpc::ClientContext> Ctx(int timeout_s = 120) {
  return Context(g_bearers.client, timeout_s);
}
std::unique_ptr<grpc::ClientContext> WorkerCtx() { return Context(g_bearers.worker, 120); }

void Check(const grpc::Status& status, const char* what) {
  if (!status.ok()) {
    std::fprintf(stderr, "%s failed: %s\n", what, status.error_message().c_str());
    std::exit(1);
  }
}

// One sweep of `jobs` cells (seeds 1..jobs) over the tiny spec.
std::string CreateJobs(v1::ClientService::Stub& client, int jobs, const std::string& request) {
  v1::CreateSweepRequest sweep;
  sweep.set_request_id(request);
  sweep.set_name(request);
  *sweep.mutable_base() = TinySpec();
  for (int s = 1; s <= jobs; ++s) {
    sweep.mutable_axes()->add_seeds(s);
  }
  v1::CreateSweepResponse created;
  Check(client.CreateSweep(Ctx().get(), sweep, &created), "CreateSweep");
  return created.sweep().id();
}

std::string Register(v1::WorkerService::Stub& worker, const std::string& name, int slots) {
  v1::RegisterWorkerRequest request;
  request.set_request_id("register-" + name);
  request.set_name(name);
  request.mutable_resources()->set_device_kind("cpu");
  request.mutable_resources()->set_slots(slots);
  v1::RegisterWorkerResponse response;
  Check(worker.RegisterWorker(WorkerCtx().get(), request, &response), "RegisterWorker");
  return response.worker_id();
}

// Each worker client loops until `jobs` have completed: AcquireLease, then CompleteJob for
// each lease. With `chained`, CompleteJob asks for the next lease (next_free_slots = 1, as the
// worker daemon does), so a busy worker needs one RPC per job; AcquireLease is only called
// when a completion came back without one.
double RunScheduling(const CoordinatorProcess& coordinator, int jobs, int workers, bool chained,
                     double* cpu_seconds) {
  auto setup = coordinator.NewChannel();
  auto client = v1::ClientService::NewStub(setup);
  CreateJobs(*client, jobs, "schedule");
  const double cpu0 = coordinator.CpuSeconds();
  std::atomic<int> completed{0};
  std::vector<std::thread> threads;
  std::vector<std::unique_ptr<v1::WorkerService::Stub>> stubs;
  std::vector<std::string> ids;
  for (int w = 0; w < workers; ++w) {
    stubs.push_back(v1::WorkerService::NewStub(coordinator.NewChannel()));
    ids.push_back(Register(*stubs.back(), "w" + std::to_string(w), 1));
  }
  const double start = NowSeconds();
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      v1::WorkerService::Stub* stub = stubs[w].get();
      const std::string& id = ids[w];
      int n = 0;
      std::vector<v1::Lease> held;
      while (completed.load() < jobs) {
        if (held.empty()) {
          v1::AcquireLeaseRequest acquire;
          acquire.set_worker_id(id);
          acquire.set_wait_ms(50);
          acquire.set_free_slots(1);
          v1::AcquireLeaseResponse leases;
          Check(stub->AcquireLease(WorkerCtx().get(), acquire, &leases), "AcquireLease");
          held.assign(leases.leases().begin(), leases.leases().end());
        }
        while (!held.empty()) {
          const v1::Lease lease = held.back();
          held.pop_back();
          v1::CompleteJobRequest done;
          done.set_request_id(id + "-" + std::to_string(++n));
          done.set_worker_id(id);
          done.set_job_id(lease.job_id());
          done.set_attempt(lease.attempt());
          done.set_outcome(v1::JOB_STATE_SUCCEEDED);
          done.set_final_eval_loss(3.0);
          done.set_next_free_slots(chained && held.empty() ? 1 : 0);
          v1::CompleteJobResponse response;
          Check(stub->CompleteJob(WorkerCtx().get(), done, &response), "CompleteJob");
          completed.fetch_add(1);
          held.insert(held.end(), response.leases().begin(), response.leases().end());
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  const double elapsed = NowSeconds() - start;
  *cpu_seconds = coordinator.CpuSeconds() - cpu0;
  return jobs / elapsed;
}

struct IngestResult {
  double points_per_s = 0;
  double p50_ms = 0, p99_ms = 0;
  int64_t requests = 0;
};

// `streams` clients, each owning one running job, report `batch`-point batches for `seconds`:
// back to back (rate 0, closed loop: the maximum) or paced so all streams together offer
// `rate` points/s (open loop: acknowledgement latency at that load).
IngestResult RunIngest(const CoordinatorProcess& coordinator, int streams, int batch,
                       double seconds, double rate) {
  auto setup = coordinator.NewChannel();
  auto client = v1::ClientService::NewStub(setup);
  auto worker = v1::WorkerService::NewStub(setup);
  CreateJobs(*client, streams, "ingest");
  const std::string worker_id = Register(*worker, "ingest", streams);
  v1::AcquireLeaseRequest acquire;
  acquire.set_worker_id(worker_id);
  v1::AcquireLeaseResponse leases;
  Check(worker->AcquireLease(WorkerCtx().get(), acquire, &leases), "AcquireLease");
  if (leases.leases_size() != streams) {
    std::fprintf(stderr, "expected %d leases, got %d\n", streams, leases.leases_size());
    std::exit(1);
  }
  std::mutex mu;
  std::vector<double> latencies_ms;
  std::atomic<int64_t> points{0};
  std::vector<std::thread> threads;
  std::vector<std::unique_ptr<v1::WorkerService::Stub>> stubs;
  for (int s = 0; s < streams; ++s) {
    stubs.push_back(v1::WorkerService::NewStub(coordinator.NewChannel()));
  }
  const double start = NowSeconds();
  for (int s = 0; s < streams; ++s) {
    threads.emplace_back([&, s] {
      v1::WorkerService::Stub* stub = stubs[s].get();
      const v1::Lease& lease = leases.leases(s);
      std::vector<double> mine;
      int64_t step = 0;
      const double interval = rate > 0 ? streams * batch / rate : 0;
      double next_send = start + interval * s / streams;  // spread the streams out
      // One request reused: only the steps change between reports, as a worker's would.
      v1::ReportPointsRequest report;
      report.set_worker_id(worker_id);
      report.set_job_id(lease.job_id());
      report.set_attempt(lease.attempt());
      for (int i = 0; i < batch; ++i) {
        v1::LossPoint* p = report.add_points();
        p->set_train_loss(4.0 / (1.0 + 0.001 * i));
        p->set_sparsity(0.5);
        p->set_lr(1e-3);
        p->set_nonzeros_paper(98304);
        p->set_nonzeros_exact(100000);
        p->set_flops_dense(1e6 * i);
        p->set_flops_sparse(5e5 * i);
        p->set_wall_s(0.01 * i);
      }
      while (NowSeconds() - start < seconds) {
        if (interval > 0) {
          const double wait = next_send - NowSeconds();
          if (wait > 0) {
            std::this_thread::sleep_for(std::chrono::duration<double>(wait));
          }
          next_send += interval;
        }
        for (v1::LossPoint& p : *report.mutable_points()) {
          p.set_step(++step);
          p.set_tokens(step * 128);
        }
        v1::ReportPointsResponse ack;
        const double t0 = NowSeconds();
        Check(stub->ReportPoints(WorkerCtx().get(), report, &ack), "ReportPoints");
        mine.push_back((NowSeconds() - t0) * 1000.0);
        points.fetch_add(batch);
      }
      std::lock_guard<std::mutex> lock(mu);
      latencies_ms.insert(latencies_ms.end(), mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  IngestResult result;
  result.points_per_s = points.load() / (NowSeconds() - start);
  result.p50_ms = Percentile(latencies_ms, 50);
  result.p99_ms = Percentile(latencies_ms, 99);
  result.requests = static_cast<int64_t>(latencies_ms.size());
  return result;
}

constexpr char kBenchSweep[] = "bench-sweep";

// Fills the database directly (as the coordinator's writer would) with jobs x points.
void FillCurves(const std::string& db, int jobs, int points) {
  auto opened = store::Store::Open(db, store::StoreOptions{});
  if (!opened.ok()) {
    std::fprintf(stderr, "%s\n", opened.status().ToString().c_str());
    std::exit(1);
  }
  store::Store& s = **opened;
  const std::string spec = TinySpec().SerializeAsString();
  store::SweepRow sweep{.id = kBenchSweep,
                        .name = "bench",
                        .base = spec,
                        .axes = v1::SweepAxes().SerializeAsString(),
                        .priority = 0,
                        .max_attempts = 3,
                        .created_unix_ms = 0};
  if (!s.InsertSweepIfAbsent(sweep).ok()) {
    std::fprintf(stderr, "fill failed: sweep\n");
    std::exit(1);
  }
  std::vector<v1::LossPoint> rows(points);
  for (int i = 0; i < points; ++i) {
    rows[i].set_step(i + 1);
    rows[i].set_tokens(128 * (i + 1));
    rows[i].set_train_loss(4.0 / (1.0 + 0.001 * i) + 0.01 * ((i * 7919) % 13));
    if ((i + 1) % 500 == 0) {
      rows[i].set_eval_loss(rows[i].train_loss() + 0.1);
    }
    rows[i].set_sparsity(0.5);
    rows[i].set_lr(1e-3);
  }
  for (int j = 0; j < jobs; ++j) {
    auto txn = store::Transaction::Begin(s.db());
    store::JobRow job;
    job.id = "bench-job-" + std::to_string(j);
    job.spec = spec;
    job.state = store::JobState::kSucceeded;
    job.total_steps = points;
    job.device = "cpu";
    bool ok = txn.ok() && s.InsertJobIfAbsent(&job).ok();
    // Reports of 500 points, as a worker would send them.
    for (int first = 0; ok && first < points; first += 500) {
      const std::vector<v1::LossPoint> report(rows.begin() + first,
                                              rows.begin() + std::min(points, first + 500));
      ok = s.InsertPoints(job.id, 1, report, 0).ok();
    }
    ok = ok && s.AddSweepJob(kBenchSweep, job.seq).ok();
    if (!ok || !(*txn)->Commit().ok()) {
      std::fprintf(stderr, "fill failed at job %d\n", j);
      std::exit(1);
    }
  }
}

void Schedule(const std::string& binary, int jobs, int workers, int baseline_jobs) {
  const std::string dir = MakeTempDir("bench_schedule");
  struct Run {
    const char* name;
    int jobs;
    int workers;
    bool chained;
    double rate = 0;
    double cpu_s = 0;
  };
  std::vector<Run> runs = {
      {"chained (CompleteJob carries the next lease)", jobs, workers, true},
      {"separate (AcquireLease + CompleteJob)", jobs, workers, false},
      {"baseline: 1 worker, separate", baseline_jobs, 1, false},
  };
  for (size_t i = 0; i < runs.size(); ++i) {
    CoordinatorProcess coordinator(binary, dir + "/run" + std::to_string(i) + ".db", {});
    runs[i].rate =
        RunScheduling(coordinator, runs[i].jobs, runs[i].workers, runs[i].chained, &runs[i].cpu_s);
  }
  for (const Run& r : runs) {
    std::printf(
        "schedule: %-46s %5d jobs, %2d workers: %6.0f jobs/s, coordinator CPU %4.0f us/job, "
        "%.2fx baseline, %.1fx Slurm's ~500 jobs/s\n",
        r.name, r.jobs, r.workers, r.rate, 1e6 * r.cpu_s / r.jobs, r.rate / runs.back().rate,
        r.rate / 500.0);
  }
  std::filesystem::remove_all(dir);
}

void Ingest(const std::string& binary, int streams, int batch, double seconds, double rate,
            int paced_batch) {
  const std::string dir = MakeTempDir("bench_ingest");
  struct Run {
    const char* name;
    std::vector<std::string> flags;
    int batch;
    double rate;
  };
  const std::vector<Run> runs = {
      {"closed loop, group commit", {}, batch, 0},
      {"closed loop, one commit per request", {"--writer-batch", "1"}, batch, 0},
      {"paced, group commit", {}, paced_batch, rate},
      {"paced, one commit per request", {"--writer-batch", "1"}, paced_batch, rate},
      // Baselines for the job_curves rows the writer keeps for the SQL views (docs/SQL.md).
      {"closed loop, group commit, no job_curves", {"--curve-rows", "0"}, batch, 0},
      {"paced, group commit, no job_curves", {"--curve-rows", "0"}, paced_batch, rate}};
  std::vector<IngestResult> results;
  for (size_t i = 0; i < runs.size(); ++i) {
    CoordinatorProcess coordinator(binary, dir + "/ingest" + std::to_string(i) + ".db",
                                   runs[i].flags);
    const double cpu0 = coordinator.CpuSeconds();
    IngestResult r = RunIngest(coordinator, streams, runs[i].batch, seconds, runs[i].rate);
    const double cpu = coordinator.CpuSeconds() - cpu0;
    std::printf(
        "ingest (%s): %d streams x %d-point batches%s: %.0f points/s, ack p50 %.1f ms, "
        "p99 %.1f ms, %lld requests, coordinator CPU %.2f us/point\n",
        runs[i].name, streams, runs[i].batch,
        runs[i].rate > 0
            ? (" offered " + std::to_string(static_cast<int>(runs[i].rate)) + " points/s").c_str()
            : "",
        r.points_per_s, r.p50_ms, r.p99_ms, static_cast<long long>(r.requests),
        1e6 * cpu / (r.points_per_s * seconds));
    results.push_back(r);
  }
  std::printf("ingest: closed-loop throughput, group commit / one commit per request = %.2fx\n",
              results[0].points_per_s / results[1].points_per_s);
  std::printf(
      "ingest: with / without job_curves: closed-loop throughput %.3fx, paced throughput %.3fx, "
      "paced p99 %.1f / %.1f ms\n",
      results[0].points_per_s / results[4].points_per_s,
      results[2].points_per_s / results[5].points_per_s, results[2].p99_ms, results[5].p99_ms);
  std::filesystem::remove_all(dir);
}

void Curve(const std::string& binary, int jobs, int points, int queries) {
  const std::string dir = MakeTempDir("bench_curve");
  const std::string db = dir + "/curves.db";
  const double fill_start = NowSeconds();
  FillCurves(db, jobs, points);
  std::printf("curve: filled %d jobs x %d points in %.1f s (%.0f MiB on disk)\n", jobs, points,
              NowSeconds() - fill_start, std::filesystem::file_size(db) / 1048576.0);
  CoordinatorProcess coordinator(binary, db, {});
  std::printf("curve: coordinator RSS after start %.1f MiB\n", coordinator.RssKiB() / 1024.0);
  auto client = v1::ClientService::NewStub(coordinator.NewChannel());
  for (int max_points : {0, 500}) {
    std::vector<double> ms;
    for (int q = 0; q < queries; ++q) {
      v1::GetLossCurveRequest request;
      request.set_job_id("bench-job-" + std::to_string((q * 7919) % jobs));
      request.set_max_points(max_points);
      v1::GetLossCurveResponse response;
      const double t0 = NowSeconds();
      Check(client->GetLossCurve(Ctx().get(), request, &response), "GetLossCurve");
      ms.push_back((NowSeconds() - t0) * 1000.0);
      if (response.total_points() != points) {
        std::fprintf(stderr, "wrong point count %lld\n",
                     static_cast<long long>(response.total_points()));
        std::exit(1);
      }
    }
    std::printf("curve: GetLossCurve max_points=%d over %d random jobs: p50 %.2f ms, p99 %.2f ms\n",
                max_points, queries, Percentile(ms, 50), Percentile(ms, 99));
  }
  std::printf("curve: coordinator RSS after queries %.1f MiB (peak %.1f MiB)\n",
              coordinator.RssKiB() / 1024.0, coordinator.PeakRssKiB() / 1024.0);
  std::filesystem::remove_all(dir);
}


// The HTTP port a coordinator started with --http-port-file `path` wrote.
int ReadPort(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "r");
  int port = 0;
  if (f == nullptr || std::fscanf(f, "%d", &port) != 1) {
    std::fprintf(stderr, "cannot read the http port from %s\n", path.c_str());
    std::exit(1);
  }
  std::fclose(f);
  return port;
}

std::vector<std::string> HttpFlags(const std::string& port_file) {
  return {"--http-listen", "127.0.0.1:0", "--http-port-file", port_file};
}

// p50/p99 of `queries` GETs of each dashboard endpoint on one kept-alive connection.
void EndpointLatencies(int port, int jobs, int queries) {
  HttpGetter http(port);
  const std::string job = "/api/v1/jobs/bench-job-";
  const std::vector<std::pair<std::string, std::function<std::string(int)>>> endpoints = {
      {"/api/v1/cluster", [](int) { return std::string("/api/v1/cluster"); }},
      {"/api/v1/sweeps", [](int) { return std::string("/api/v1/sweeps"); }},
      {"/api/v1/sweeps/{id} (all cells)",
       [](int) { return std::string("/api/v1/sweeps/") + kBenchSweep; }},
      {"/api/v1/jobs?page_size=100", [](int) { return std::string("/api/v1/jobs?page_size=100"); }},
      {"/api/v1/jobs/{id}", [&](int q) { return job + std::to_string((q * 7919) % jobs); }},
      {"/api/v1/jobs/{id}/curve (2000 of 10000 points)",
       [&](int q) { return job + std::to_string((q * 7919) % jobs) + "/curve"; }},
      {"/api/v1/jobs/{id}/curve?max_points=500",
       [&](int q) { return job + std::to_string((q * 7919) % jobs) + "/curve?max_points=500"; }},
      {"/api/v1/jobs/{id}/log", [&](int q) { return job + std::to_string(q % jobs) + "/log"; }},
      {"/metrics", [](int) { return std::string("/metrics"); }},
      {"/healthz", [](int) { return std::string("/healthz"); }},
      {"/ (the app)", [](int) { return std::string("/"); }},
  };
  for (const auto& [name, target] : endpoints) {
    std::vector<double> ms;
    std::string body;
    size_t bytes = 0;
    for (int q = 0; q < queries; ++q) {
      const double t0 = NowSeconds();
      const int status = http.Get(target(q), &body);
      ms.push_back((NowSeconds() - t0) * 1000.0);
      bytes = body.size();
      if (status != 200 && !(status == 404 && name.find("404") != std::string::npos)) {
        std::fprintf(stderr, "GET %s: status %d %s\n", target(q).c_str(), status, body.c_str());
        std::exit(1);
      }
    }
    std::printf("dashboard: %-48s p50 %7.2f ms  p99 %7.2f ms  (%zu bytes)\n", name.c_str(),
                Percentile(ms, 50), Percentile(ms, 99), bytes);
  }
}

// Polls the dashboard 10 times a second (cluster, sweeps, jobs, one job's curve, metrics) until
// `stop`; the latency of each round into *round_ms.
void Poll(int port, const std::atomic<bool>& stop, std::vector<double>* round_ms) {
  HttpGetter http(port);
  std::string body, job_id;
  double next = NowSeconds();
  while (!stop.load()) {
    const double t0 = NowSeconds();
    http.Get("/api/v1/cluster");
    http.Get("/api/v1/sweeps");
    http.Get("/api/v1/jobs?page_size=100", &body);
    if (job_id.empty()) {
      const size_t at = body.find("\"id\":\"");
      if (at != std::string::npos) {
        job_id = body.substr(at + 6, body.find('"', at + 6) - at - 6);
      }
    }
    if (!job_id.empty()) {
      http.Get("/api/v1/jobs/" + job_id + "/curve");
    }
    http.Get("/metrics");
    round_ms->push_back((NowSeconds() - t0) * 1000.0);
    next += 0.1;
    const double wait = next - NowSeconds();
    if (wait > 0) {
      std::this_thread::sleep_for(std::chrono::duration<double>(wait));
    }
  }
}

void Dashboard(const std::string& binary, int jobs, int points, int queries, int streams,
               double seconds, double rate, int paced_batch) {
  const std::string dir = MakeTempDir("bench_dashboard");
  const std::string db = dir + "/dashboard.db";
  const double fill_start = NowSeconds();
  FillCurves(db, jobs, points);
  std::printf("dashboard: filled %d jobs x %d points (one sweep) in %.1f s (%.0f MiB on disk)\n",
              jobs, points, NowSeconds() - fill_start, std::filesystem::file_size(db) / 1048576.0);
  {
    CoordinatorProcess coordinator(binary, db, HttpFlags(dir + "/http.port"));
    EndpointLatencies(ReadPort(dir + "/http.port"), jobs, queries);
  }
  IngestResult without, with;
  std::vector<double> rounds;
  for (int polled = 0; polled < 2; ++polled) {
    const std::string tag = polled ? "polled" : "quiet";
    CoordinatorProcess coordinator(binary, dir + "/ingest-" + tag + ".db",
                                   HttpFlags(dir + "/" + tag + ".port"));
    std::atomic<bool> stop{false};
    std::thread poller;
    if (polled) {
      poller = std::thread(
          [&, port = ReadPort(dir + "/" + tag + ".port")] { Poll(port, stop, &rounds); });
    }
    (polled ? with : without) = RunIngest(coordinator, streams, paced_batch, seconds, rate);
    stop = true;
    if (poller.joinable()) {
      poller.join();
    }
  }
  const std::vector<std::pair<const char*, IngestResult>> results = {
      {"without poller", without}, {"with 10 Hz poller", with}};
  for (const auto& [name, r] : results) {
    std::printf("dashboard: ingest paced %.0f points/s %-18s %.0f points/s, ack p50 %.1f ms, "
                "p99 %.1f ms\n",
                rate, name, r.points_per_s, r.p50_ms, r.p99_ms);
  }
  std::printf("dashboard: poller rounds (5 GETs) during ingestion: %zu, p50 %.1f ms, p99 %.1f ms\n",
              rounds.size(), Percentile(rounds, 50), Percentile(rounds, 99));
  std::printf("dashboard: ingest with poller / without = %.3fx (target >= 0.90)\n",
              with.points_per_s / without.points_per_s);
  std::filesystem::remove_all(dir);
}

// The first line of `path` (the admin token file the coordinator wrote).
std::string ReadLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line) || line.empty()) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    std::exit(1);
  }
  return line;
}

void Auth(const std::string& binary, int streams, int batch, double seconds, double rate,
          int paced_batch, const std::string& certs_script) {
  const std::string dir = MakeTempDir("bench_auth");
  const std::string certs = dir + "/certs";
  const std::string make_certs = "bash '" + certs_script + "' '" + certs + "' > /dev/null";
  if (std::system(make_certs.c_str()) != 0) {
    std::fprintf(stderr, "%s failed\n", make_certs.c_str());
    std::exit(1);
  }
  // Tokens on, the rate limit out of reach: every call pays for the token check, the worker
  // binding and the limiter, and none is refused.
  const std::vector<std::string> tokens = {"--auth", "tokens", "--rate-limit", "1e9",
                                           "--rate-burst", "1000000000"};
  std::vector<std::string> tls = tokens;
  tls.insert(tls.end(), {"--tls-cert", certs + "/server.pem", "--tls-key", certs + "/server.key"});
  struct Config {
    const char* name;
    std::vector<std::string> flags;
    bool tls;
  };
  const std::vector<Config> configs = {
      {"--auth none, plain text", {"--auth", "none"}, false},
      {"worker token", tokens, false},
      {"worker token + TLS", tls, true},
  };
  struct Load {
    const char* name;
    int batch;
    double rate;
  };
  const std::vector<Load> loads = {{"closed loop", batch, 0}, {"paced", paced_batch, rate}};
  std::vector<std::vector<IngestResult>> results(loads.size());
  std::vector<std::vector<double>> cpu_us(loads.size());
  for (size_t l = 0; l < loads.size(); ++l) {
    for (size_t c = 0; c < configs.size(); ++c) {
      const std::string db = dir + "/auth" + std::to_string(l) + std::to_string(c) + ".db";
      CoordinatorProcess coordinator(binary, db, configs[c].flags);
      if (configs[c].tls) {
        coordinator.UseTls(certs + "/ca.pem");
      }
      g_bearers = {};
      if (configs[c].flags[1] == "tokens") {
        g_bearers.client = ReadLine(db + ".admin-token");
        auto client = v1::ClientService::NewStub(coordinator.NewChannel());
        v1::CreateTokenRequest create;
        create.set_role(v1::ROLE_WORKER);
        v1::CreateTokenResponse created;
        Check(client->CreateToken(Ctx().get(), create, &created), "CreateToken");
        g_bearers.worker = created.secret();
      }
      const double cpu0 = coordinator.CpuSeconds();
      IngestResult r = RunIngest(coordinator, streams, loads[l].batch, seconds, loads[l].rate);
      cpu_us[l].push_back(1e6 * (coordinator.CpuSeconds() - cpu0) / r.requests);
      results[l].push_back(r);
    }
  }
  g_bearers = {};
  for (size_t l = 0; l < loads.size(); ++l) {
    const IngestResult& base = results[l][0];
    for (size_t c = 0; c < configs.size(); ++c) {
      const IngestResult& r = results[l][c];
      std::printf(
          "auth: %-11s %d streams x %d-point batches%s, %-24s %8.0f points/s (%.3fx), ack p50 "
          "%.2f ms (%.2fx), p99 %.2f ms (%.2fx), coordinator CPU %.0f us/request (%.2fx)\n",
          loads[l].name, streams, loads[l].batch,
          loads[l].rate > 0
              ? (" offered " + std::to_string(static_cast<int>(loads[l].rate)) + " points/s")
                    .c_str()
              : "",
          configs[c].name, r.points_per_s, r.points_per_s / base.points_per_s, r.p50_ms,
          r.p50_ms / base.p50_ms, r.p99_ms, r.p99_ms / base.p99_ms, cpu_us[l][c],
          cpu_us[l][c] / cpu_us[l][0]);
    }
  }
  std::filesystem::remove_all(dir);
}

// One checkpoint upload of `payload` in 1 MiB chunks; seconds.
double UploadOnce(v1::WorkerService::Stub& worker, const std::string& worker_id,
                  const v1::Lease& lease, int64_t step, const std::string& payload) {
  constexpr size_t kChunk = 1 << 20;
  const double start = NowSeconds();
  v1::UploadCheckpointResponse response;
  auto ctx = WorkerCtx();
  auto writer = worker.UploadCheckpoint(ctx.get(), &response);
  v1::CheckpointUpload first;
  first.set_worker_id(worker_id);
  first.mutable_info()->set_job_id(lease.job_id());
  first.mutable_info()->set_attempt(lease.attempt());
  first.mutable_info()->set_step(step);
  first.mutable_info()->set_size_bytes(static_cast<int64_t>(payload.size()));
  first.mutable_info()->set_sha256(Sha256Hex(payload));
  bool open = writer->Write(first);
  v1::CheckpointUpload chunk;
  for (size_t at = 0; open && at < payload.size(); at += kChunk) {
    chunk.set_data(payload.substr(at, kChunk));
    open = writer->Write(chunk);
  }
  writer->WritesDone();
  Check(writer->Finish(), "UploadCheckpoint");
  return NowSeconds() - start;
}

// One download of the job's latest checkpoint; seconds. Exits when the bytes differ.
double DownloadOnce(v1::WorkerService::Stub& worker, const std::string& job_id,
                    const std::string& expected) {
  const double start = NowSeconds();
  v1::DownloadCheckpointRequest request;
  request.set_job_id(job_id);
  auto ctx = WorkerCtx();
  auto reader = worker.DownloadCheckpoint(ctx.get(), request);
  v1::CheckpointChunk chunk;
  size_t at = 0;
  bool same = true;
  while (reader->Read(&chunk)) {
    same = same && expected.compare(at, chunk.data().size(), chunk.data()) == 0;
    at += chunk.data().size();
  }
  Check(reader->Finish(), "DownloadCheckpoint");
  const double seconds = NowSeconds() - start;
  if (!same || at != expected.size()) {
    std::fprintf(stderr, "checkpoint download differs from the upload\n");
    std::exit(1);
  }
  return seconds;
}

void Checkpoints(const std::string& binary, int mib, int repeats) {
  const std::string dir = MakeTempDir("checkpoint");
  struct Config {
    const char* name;
    bool blob_dir;
  };
  const std::vector<Config> configs = {{"SQLite", false}, {"--checkpoint-dir", true}};
  const double mb = static_cast<double>(mib) * (1 << 20) / 1e6;
  std::vector<std::pair<double, double>> medians;  // upload, download MB/s
  for (size_t c = 0; c < configs.size(); ++c) {
    const std::string db = dir + "/ckpt" + std::to_string(c) + ".db";
    std::vector<std::string> flags = {"--auth", "none"};
    if (configs[c].blob_dir) {
      flags.insert(flags.end(), {"--checkpoint-dir", dir + "/blobs"});
    }
    CoordinatorProcess coordinator(binary, db, flags);
    auto channel = coordinator.NewChannel();
    auto client = v1::ClientService::NewStub(channel);
    auto worker = v1::WorkerService::NewStub(channel);
    CreateJobs(*client, 1, "checkpoint");
    const std::string worker_id = Register(*worker, "w", 1);
    v1::AcquireLeaseRequest acquire;
    acquire.set_worker_id(worker_id);
    acquire.set_free_slots(1);
    v1::AcquireLeaseResponse leases;
    Check(worker->AcquireLease(WorkerCtx().get(), acquire, &leases), "AcquireLease");
    if (leases.leases_size() != 1) {
      std::fprintf(stderr, "no lease\n");
      std::exit(1);
    }
    std::vector<double> up, down;
    std::string payload(static_cast<size_t>(mib) << 20, '\0');
    for (size_t i = 0; i < payload.size(); ++i) {
      payload[i] = static_cast<char>((i * 2654435761u) >> 13);
    }
    for (int r = 0; r < repeats; ++r) {
      payload[0] = static_cast<char>(r);  // other bytes each time: no dedupe
      up.push_back(mb / UploadOnce(*worker, worker_id, leases.leases(0), 100 * (r + 1), payload));
      down.push_back(mb / DownloadOnce(*worker, leases.leases(0).job_id(), payload));
    }
    medians.emplace_back(Percentile(up, 50), Percentile(down, 50));
    std::printf("checkpoint: %-17s %d MiB x %d: upload %7.1f MB/s (min %.1f, max %.1f), "
                "download %7.1f MB/s (min %.1f, max %.1f), coordinator peak RSS %lld MiB\n",
                configs[c].name, mib, repeats, medians.back().first, Percentile(up, 0),
                Percentile(up, 100), medians.back().second, Percentile(down, 0),
                Percentile(down, 100), static_cast<long long>(coordinator.PeakRssKiB() / 1024));
  }
  std::printf("checkpoint: --checkpoint-dir vs SQLite: upload %.2fx, download %.2fx (medians)\n",
              medians[1].first / medians[0].first, medians[1].second / medians[0].second);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sparsescale::bench

int main(int argc, char** argv) {
  CLI::App app{"coordinator benchmarks (loopback gRPC, real SQLite, no training)"};
  std::string binary = SPARSESCALE_COORDINATOR_BINARY;
  app.add_option("--coordinator", binary, "sparsescale-coordinator binary")->capture_default_str();
  int jobs = 10'000, workers = 16, baseline_jobs = 2000;
  auto* schedule = app.add_subcommand("schedule", "lease+complete throughput");
  schedule->add_option("--jobs", jobs)->capture_default_str();
  schedule->add_option("--workers", workers)->capture_default_str();
  schedule->add_option("--baseline-jobs", baseline_jobs)->capture_default_str();
  int streams = 64, batch = 500, paced_batch = 250;
  double seconds = 5, rate = 200'000;
  auto* ingest = app.add_subcommand("ingest", "loss point ingestion");
  ingest->add_option("--streams", streams)->capture_default_str();
  ingest->add_option("--batch", batch)->capture_default_str();
  ingest->add_option("--seconds", seconds)->capture_default_str();
  ingest->add_option("--rate", rate, "offered points/s of the paced runs")->capture_default_str();
  ingest->add_option("--paced-batch", paced_batch, "points per report in the paced runs")
      ->capture_default_str();
  int curve_jobs = 1000, curve_points = 10'000, queries = 200;
  auto* curve = app.add_subcommand("curve", "curve queries and memory with many points stored");
  curve->add_option("--jobs", curve_jobs)->capture_default_str();
  curve->add_option("--points", curve_points)->capture_default_str();
  curve->add_option("--queries", queries)->capture_default_str();
  int dash_queries = 100;
  auto* dashboard = app.add_subcommand(
      "dashboard", "dashboard HTTP latency with many points stored, and ingestion under polling");
  dashboard->add_option("--jobs", curve_jobs)->capture_default_str();
  dashboard->add_option("--points", curve_points)->capture_default_str();
  dashboard->add_option("--queries", dash_queries, "GETs per endpoint")->capture_default_str();
  dashboard->add_option("--streams", streams)->capture_default_str();
  dashboard->add_option("--seconds", seconds, "seconds of each ingestion run")
      ->capture_default_str();
  dashboard->add_option("--rate", rate)->capture_default_str();
  dashboard->add_option("--paced-batch", paced_batch)->capture_default_str();
  std::string certs_script = std::string(SPARSESCALE_SOURCE_DIR) + "/deploy/certs.sh";
  auto* auth = app.add_subcommand(
      "auth", "ingestion with --auth none vs a worker token vs a worker token over TLS");
  auth->add_option("--streams", streams)->capture_default_str();
  auth->add_option("--batch", batch)->capture_default_str();
  auth->add_option("--seconds", seconds, "seconds of each run")->capture_default_str();
  auth->add_option("--rate", rate, "offered points/s of the paced runs")->capture_default_str();
  auth->add_option("--paced-batch", paced_batch)->capture_default_str();
  auth->add_option("--certs-script", certs_script, "deploy/certs.sh (makes the TLS certificates)")
      ->capture_default_str();
  int checkpoint_mib = 256, checkpoint_repeats = 3;
  auto* checkpoint = app.add_subcommand(
      "checkpoint", "checkpoint upload/download MB/s: payloads in SQLite vs --checkpoint-dir");
  checkpoint->add_option("--mib", checkpoint_mib, "payload size")->capture_default_str();
  checkpoint->add_option("--repeats", checkpoint_repeats, "uploads and downloads per store")
      ->capture_default_str();
  app.require_subcommand(1);
  CLI11_PARSE(app, argc, argv);
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (schedule->parsed()) {
    sparsescale::bench::Schedule(binary, jobs, workers, baseline_jobs);
  } else if (ingest->parsed()) {
    sparsescale::bench::Ingest(binary, streams, batch, seconds, rate, paced_batch);
  } else if (auth->parsed()) {
    sparsescale::bench::Auth(binary, streams, batch, seconds, rate, paced_batch, certs_script);
  } else if (checkpoint->parsed()) {
    sparsescale::bench::Checkpoints(binary, checkpoint_mib, checkpoint_repeats);
  } else if (dashboard->parsed()) {
    sparsescale::bench::Dashboard(binary, curve_jobs, curve_points, dash_queries, streams,
                                  seconds, rate, paced_batch);
  } else {
    sparsescale::bench::Curve(binary, curve_jobs, curve_points, queries);
  }
  return 0;
}
