import Testing

@testable import VXLANCore

/// The counters file's layout: the hook's constants against the tables the metrics print.
struct HostCountersTests {
    @Test func testEveryActedOnCallHasAPhaseAndIgnoredOnesNone() {
        for (driver, operation, sub, action) in HookCallTests.table {
            let call = HookCall(driver: driver, object: "g", operation: operation, subOperation: sub)
            #expect((HookPhase(call) == nil) == (action == .ignore), "\(driver) \(operation) \(sub)")
            // The switch the hook runs and the table the metrics print agree.
            if let phase = HookPhase(call) { #expect(HookPhase.all[phase.index] == phase) }
        }
    }

    @Test func testTheHooksConstantsMatchTheTables() {
        #expect(HookPhase.all.count == HookPhase.count)
        #expect(HookOutcome.allCases.count == 3)
        #expect(HookPhase.durationBounds.count + 1 == CounterLayout.buckets)
        for (position, bound) in HookPhase.durationBounds.enumerated() {
            let microseconds = Int((bound * 1_000_000).rounded())
            #expect(HookPhase.bucket(microseconds: microseconds) == position)
            #expect(HookPhase.bucket(microseconds: microseconds + 1) == position + 1)
        }
    }

    @Test func testCounterSlotsAreDistinctAndFitTheFile() {
        var slots: [Int] = []
        for phase in HookPhase.all {
            slots += HookOutcome.allCases.map { CounterLayout.hookCall(phase, $0) }
            slots += [0, 2500, 2501, 10_000_001].map {
                CounterLayout.hookDurationBucket(phase, microseconds: $0)
            }
            slots.append(CounterLayout.hookDurationSum(phase))
        }
        slots += ReaperCounter.allCases.map(CounterLayout.reaper)
        slots += WatcherCounter.allCases.map(CounterLayout.watcher)
        slots +=
            RepairCause.allCases.map(CounterLayout.repairs) + RepairCause.allCases.map(CounterLayout.repairFailures)
        #expect(Set(slots).count == slots.count)
        #expect(slots.allSatisfy { $0 > 0 && $0 < CounterLayout.end })
        #expect(CounterLayout.end <= CounterLayout.slotCount)
    }
}
