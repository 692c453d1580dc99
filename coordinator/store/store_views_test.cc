// The plain columns and job_curves behind the SQL views (sql/0004_views.sql), and the
// migration of a database written by schema version 3.
#include <stdlib.h>

#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "coordinator/store/store.h"
#include "coordinator/store/store_testing.h"
#include "gtest/gtest.h"
#include "sparsescale/v1/job.pb.h"
#include "sql/migrations.h"

namespace sparsescale::store {
namespace {

v1::JobSpec CellSpec(int width, double sparsity, int64_t tokens, bool two_four) {
  v1::JobSpec spec;
  spec.mutable_model()->set_layers(2);
  spec.mutable_model()->set_width(width);
  spec.mutable_data()->set_tokens(tokens);
  spec.mutable_pruning()->set_sparsity(sparsity);
  if (two_four) {
    spec.mutable_pruning()->set_structure(v1::SPARSITY_STRUCTURE_NM);
    spec.mutable_pruning()->set_n(2);
    spec.mutable_pruning()->set_m(4);
  }
  spec.set_seed(7);
  return spec;
}

std::vector<LossPoint> Points(int64_t first, int64_t last) {
  std::vector<LossPoint> points;
  for (int64_t s = first; s <= last; ++s) {
    LossPoint& p = points.emplace_back();
    p.set_step(s);
    p.set_tokens(s * 128);
    p.set_train_loss(5.0 - 0.001 * static_cast<double>(s));
    if (s % 100 == 0) {
      p.set_eval_loss(5.5 - 0.001 * static_cast<double>(s));
    }
    p.set_sparsity(0.5);
    p.set_lr(1e-3);
  }
  return points;
}

JobRow MakeJob(const std::string& id, const v1::JobSpec& spec, int64_t total_steps) {
  JobRow job;
  job.id = id;
  job.spec = spec.SerializeAsString();
  job.total_steps = total_steps;
  job.device = "cpu";
  return job;
}

AttemptEndRecord Succeeded(const std::string& id) {
  AttemptEndRecord end;
  end.job_id = id;
  end.attempt = 1;
  end.state = JobState::kSucceeded;
  end.outcome = JobState::kSucceeded;
  return end;
}

class StoreViewsTest : public testing::StoreFileTest {
 protected:
  static std::string One(Store& store, const std::string& sql) {
    auto q = store.db()->Prepare(sql);
    EXPECT_TRUE(q.ok()) << q.status();
    if (!q.ok()) {
      return "";
    }
    auto row = q->Step();
    EXPECT_TRUE(row.ok() && *row) << sql;
    return row.ok() && *row ? q->Text(0) : "";
  }

};

TEST_F(StoreViewsTest, AnInsertedJobCarriesItsCellAsPlainColumns) {
  auto store = OpenStore();
  JobRow job = MakeJob("j1", CellSpec(64, 0.5, 12800, false), 100);
  ASSERT_TRUE(store->InsertJobIfAbsent(&job).ok());
  // 12 * 64^2 * 2 * 0.5 = 49152.
  EXPECT_EQ(One(*store, "SELECT n_params || ' ' || sparsity || ' ' || tokens || ' ' || structure "
                        "|| ' ' || seed || ' ' || state || ' ' || progress FROM v_jobs"),
            "49152 0.5 12800 unstructured 7 queued 0.0");
}

TEST_F(StoreViewsTest, CurveRowsFollowThePointsAsTheyArriveAndStayBounded) {
  auto store = OpenStore();
  JobRow job = MakeJob("j1", CellSpec(64, 0.5, 12800, true), 5000);
  ASSERT_TRUE(store->InsertJobIfAbsent(&job).ok());
  EXPECT_EQ(One(*store, "SELECT structure FROM jobs"), "2:4");
  for (int64_t first = 1; first <= 3000; first += 250) {
    ASSERT_TRUE(store->InsertPoints("j1", 1, Points(first, first + 249), 0).ok());
  }
  // Step 1, every 34th step (150 over 5000 steps) so far, and the first eval of each 100 steps.
  EXPECT_EQ(One(*store, "SELECT MIN(step) || ' ' || MAX(step) || ' ' || COUNT(eval_loss) FROM "
                        "job_curves"),
            "1 3000 30");  // step 3000 is an eval point
  EXPECT_EQ(One(*store, "SELECT COUNT(*) BETWEEN 90 AND 130 FROM job_curves"), "1");
  ASSERT_TRUE(store->InsertPoints("j1", 1, Points(3001, 5000), 0).ok());
  EXPECT_EQ(One(*store, "SELECT MAX(step) || ' ' || (COUNT(*) BETWEEN 150 AND 210) FROM "
                        "job_curves"),
            "5000 1");
  // The stored values of a kept point.
  EXPECT_EQ(One(*store, "SELECT tokens || ' ' || train_loss || ' ' || eval_loss FROM job_curves "
                        "WHERE step = 100"),
            "12800 4.9 5.4");
}

TEST_F(StoreViewsTest, ARequeueDropsTheSupersededCurveRows) {
  auto store = OpenStore();
  JobRow job = MakeJob("j1", CellSpec(64, 0.5, 12800, false), 1000);
  ASSERT_TRUE(store->InsertJobIfAbsent(&job).ok());
  ASSERT_TRUE(store->InsertPoints("j1", 1, Points(1, 800), 0).ok());
  AttemptEndRecord requeue;
  requeue.job_id = "j1";
  requeue.attempt = 1;
  requeue.state = JobState::kQueued;
  requeue.outcome = JobState::kFailed;
  requeue.checkpoint_step = 500;
  ASSERT_TRUE(store->RecordAttemptEnd(requeue, 0).ok());
  EXPECT_EQ(One(*store, "SELECT MAX(step) FROM job_curves"), "500");  // the checkpoint's step
}

TEST_F(StoreViewsTest, NoCurveRowsWhenTurnedOff) {
  StoreOptions options;
  options.curve_rows = 0;
  auto store = Store::Open(path_, options);
  ASSERT_TRUE(store.ok());
  JobRow job = MakeJob("j1", CellSpec(64, 0.5, 12800, false), 100);
  ASSERT_TRUE((*store)->InsertJobIfAbsent(&job).ok());
  ASSERT_TRUE((*store)->InsertPoints("j1", 1, Points(1, 100), 0).ok());
  EXPECT_EQ(One(**store, "SELECT COUNT(*) FROM job_curves"), "0");
}

// What schema version 3 stored for a loss batch: 11 little-endian 8-byte fields per point.
std::string PackV3(const std::vector<LossPoint>& points) {
  std::string out;
  auto put = [&out](auto value) {
    char bytes[8];
    std::memcpy(bytes, &value, 8);
    out.append(bytes, 8);
  };
  for (const LossPoint& p : points) {
    put(p.step());
    put(p.tokens());
    put(p.train_loss());
    put(p.has_eval_loss() ? p.eval_loss() : std::numeric_limits<double>::quiet_NaN());
    put(p.sparsity());
    put(p.lr());
    put(int64_t{0});
    put(int64_t{0});
    put(0.0);
    put(0.0);
    put(0.0);
  }
  return out;
}

TEST_F(StoreViewsTest, ADatabaseOfSchemaVersion3IsMigratedWithItsRowsBackfilled) {
  {
    // Schema version 3 exactly as an older coordinator left it: migrations 1-3 and rows.
    auto db = Db::Open(path_, DbOptions{});
    ASSERT_TRUE(db.ok()) << db.status();
    ASSERT_TRUE((*db)->Exec("CREATE TABLE schema_version (version INTEGER NOT NULL PRIMARY KEY, "
                            "name TEXT NOT NULL, applied_unix_ms INTEGER NOT NULL)")
                    .ok());
    for (const sql::Migration& m : sql::Migrations()) {
      if (m.version <= 3) {
        ASSERT_TRUE((*db)->Exec(m.sql).ok()) << m.name;
        ASSERT_TRUE((*db)->Exec("INSERT INTO schema_version VALUES (" +
                                std::to_string(m.version) + ", 'old', 0)")
                        .ok());
      }
    }
    auto job = (*db)->Prepare(
        "INSERT INTO jobs (seq, id, sweep_id, spec, state, priority, max_attempts, step, "
        "total_steps, final_eval_loss, device, gpus, memory_bytes, created_unix_ms, "
        "updated_unix_ms) VALUES (1, 'old-job', 'sw', ?, 3, 0, 3, 1000, 1000, 4.25, 'cpu', 0, 0, "
        "0, 0)");
    ASSERT_TRUE(job.ok());
    const std::string spec = CellSpec(128, 0.75, 64000, false).SerializeAsString();
    ASSERT_TRUE(job->Bind(1, Blob{spec}).Run().ok());
    auto batch = (*db)->Prepare(
        "INSERT INTO loss_batches VALUES (1, 1, 1, 1000, 9223372036854775807, 1000, ?)");
    ASSERT_TRUE(batch.ok());
    const std::string payload = PackV3(Points(1, 1000));
    ASSERT_TRUE(batch->Bind(1, Blob{payload}).Run().ok());
    ASSERT_TRUE((*db)->Exec("INSERT INTO sweeps VALUES ('sw', 'old sweep', x'', x'', 0, 3, 0); "
                            "INSERT INTO sweep_jobs VALUES ('sw', 1)")
                    .ok());
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->schema_version(), Store::LatestSchemaVersion());
  // 12 * 128^2 * 2 * 0.25 = 98304.
  EXPECT_EQ(One(*store, "SELECT job_id || ' ' || n_params || ' ' || sparsity || ' ' || tokens || "
                        "' ' || state || ' ' || progress FROM v_jobs"),
            "old-job 98304 0.75 64000 succeeded 1.0");
  EXPECT_EQ(One(*store, "SELECT (COUNT(*) BETWEEN 150 AND 210) || ' ' || MIN(step) || ' ' || "
                        "MAX(step) FROM job_curves WHERE job_id = 'old-job'"),
            "1 1 1000");
  EXPECT_EQ(One(*store, "SELECT sweep_id || ' ' || final_eval_loss FROM v_final_losses"),
            "sw 4.25");
  EXPECT_EQ(One(*store, "SELECT jobs || ' ' || succeeded || ' ' || progress FROM "
                        "v_sweep_progress"),
            "1 1 1.0");
  // Nothing stored was lost: the curve reads as before.
  auto curve = store->ReadCurve("old-job");
  ASSERT_TRUE(curve.ok());
  EXPECT_EQ(curve->size(), 1000u);
}

TEST_F(StoreViewsTest, DeletingAJobDeletesItsCurveRows) {
  auto store = OpenStore();
  JobRow job = MakeJob("j1", CellSpec(64, 0.5, 12800, false), 10);
  ASSERT_TRUE(store->InsertJobIfAbsent(&job).ok());
  ASSERT_TRUE(store->InsertPoints("j1", 1, Points(1, 10), 0).ok());
  ASSERT_TRUE(store->RecordAttemptEnd(Succeeded("j1"), 0).ok());
  EXPECT_EQ(One(*store, "SELECT COUNT(*) FROM job_curves"), "10");
  ASSERT_TRUE(store->DeleteFinalJob("j1").ok());
  EXPECT_EQ(One(*store, "SELECT COUNT(*) FROM job_curves"), "0");
}

}  // namespace
}  // namespace sparsescale::store
