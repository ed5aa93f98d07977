/**
 * dmaprop's public API: the interfaces a design is written against, the engine that checks it,
 * the built-in stacks, invariants and designs. A user's own design, written with these, is
 * checked exactly like the built-in ones.
 *
 * @module dmaprop
 */
export type {
  AnyDesign,
  Command,
  CommandSpace,
  Design,
  Expectation,
  ExploreScope,
  Footprint,
  Invariant,
  InvariantClass,
  Step,
  Transition,
  Violation,
} from './design.js';
export { crashesLike, crashWhere, runTrace, violates } from './execute.js';
export type { Crash, CrashSite, ExecutedStep, FoundViolation, RunOptions, TraceRun } from './execute.js';
export { defaultGeneration, traceArbitrary } from './generate.js';
export type { GenerationOptions } from './generate.js';
export { minimize } from './minimize.js';
export { checkDesign, counterexampleFor, crashReportFor, outcomeOf, verdicts } from './check.js';
export type {
  CheckBudget,
  CheckOptions,
  Counterexample,
  CrashReport,
  CutShort,
  DesignCheck,
  FirstFailure,
  Verdict,
} from './check.js';
export { mergeChecks } from './merge.js';
export { planShard } from './shard.js';
export type { Shard, ShardPlan } from './shard.js';
export { sharedSeed, SEED_MAX, SEED_VARIABLE } from './seed.js';
export { replayCommand } from './replay-command.js';
export type { ReplayCommand } from './replay-command.js';
export {
  EXIT_CRASHED,
  EXIT_INCONCLUSIVE,
  EXIT_INTERRUPTED,
  EXIT_MET,
  EXIT_UNMET,
  EXIT_USAGE,
  exitStatus,
} from './exit-codes.js';
export type { Outcome } from './exit-codes.js';
export {
  checkJson,
  checkResultJson,
  counterexampleJson,
  crashJson,
  formatDesignCheck,
  formatSummary,
} from './report.js';
export { DEFAULT_MAX_STATES, exploreDesign, mergeExplorations, stableJson } from './explore.js';
export { stableFingerprint } from './stable-fingerprint.js';
export type { Fingerprint } from './state-table.js';
export { FLAT_CHANGED, FLAT_DUPLICATE, FLAT_SAME } from './flat-scope.js';
export type { FlatScope, FlatStatus } from './flat-scope.js';
export { flatAgreement } from './flat-agreement.js';
export type { FlatAgreement } from './flat-agreement.js';
export { footprintProblems, independent } from './partial-order.js';
export type { FootprintProblem } from './partial-order.js';
export type { ExploreOptions, ExploreProgress, ExploreResult, ExploreVerdict } from './explore.js';
export type { DesignSource } from './explore-protocol.js';
export { main } from './cli.js';
export { builtinCorpus, packageRoot, toolVersion } from './version.js';
export {
  CorpusError,
  entryFor,
  entryForCrash,
  formatReplayProblem,
  loadCorpus,
  parseEntry,
  readEntryText,
  replayCorpus,
  replayCorpusFile,
  replayEntry,
  saveEntry,
  scanCorpus,
} from './corpus.js';
export type { CorpusReplay, CorpusScan, LoadedEntry, ReplayProblem, SaveOutcome } from './corpus.js';
export { canonicalKey, CORPUS_FORMAT, CORPUS_FORMAT_VERSION, entryPath } from './corpus-entry.js';
export type { CorpusEntry, CrashEntry, OutcomeEntry, RecordedCrash, RecordedStep } from './corpus-entry.js';
export { CONFIG_FILES, ConfigError, defineConfig, loadConfig } from './config.js';
export type { DmapropConfig, LoadedConfig } from './config.js';

export type { OpResult } from '../models/result.js';
export { fail, succeed } from '../models/result.js';
export { designs, findDesign } from '../properties/registry.js';
export { failedOperationLeavesStateUnchanged } from '../properties/generic/atomicity.js';
export { gvtBugCatalogue } from '../properties/gvt/bug-catalogue.js';
export { xenBugCatalogue, xenGtBugCatalogue, xenGtDesign, XENGT_STACK } from '../properties/xengt/design.js';
export type { XenGtDesign, XenGtDesignOptions } from '../properties/xengt/design.js';
export { xenGtInvariants } from '../properties/xengt/invariants/index.js';
export { xenGrantMapMutants, xenGtMediatorMutants, xenGtMutants } from '../properties/xengt/mutants.js';
export { soundGrantMap } from '../models/xen/grant-table.js';
export type { GrantMapOrdering, GrantPins } from '../models/xen/grant-table.js';
export { xenPtDesign, xenPtConfig, XENPT_STACK } from '../properties/xenpt/design.js';
export type { XenPtDesign, XenPtDesignOptions } from '../properties/xenpt/design.js';
export { xenPtInvariants } from '../properties/xenpt/invariants.js';
export { xenPtDesigns } from '../properties/xenpt/designs.js';
export { xenPtMutants } from '../properties/xenpt/mutants.js';
export { xenPtPvDesigns } from '../properties/xenpt/pv-designs.js';
export { soundPvMemory } from '../models/xen/pv-rules.js';
export type { PvMemoryRules } from '../models/xen/pv-rules.js';
// Grant table v2 and GNTTABOP_copy on the Xen passthrough stack (issue 19).
export { xenPtGrantV2Designs } from '../properties/xenpt/grant-v2-designs.js';
export { xenPtGrantV2Kinds, DOMID_SELF as XENPT_DOMID_SELF } from '../models/xenpt/grant-v2.js';
export type { XenPtGrantV2Command } from '../models/xenpt/grant-v2.js';
export type { XenPtTemplate } from '../properties/xenpt/generators.js';
export {
  defaultXenPtWorld,
  soundDeferredFlush,
  soundIommuSync,
  soundPassthroughTeardown,
} from '../models/xenpt/config.js';
export type {
  DeferredFlush,
  IommuSync,
  PassthroughTeardown,
  XenPtConfig,
  XenPtDomainSpec,
  XenPtWorld,
} from '../models/xenpt/config.js';
export { xenPtCommandKinds } from '../models/xenpt/commands.js';
export type { XenPtCommand, XenPtCommandKind } from '../models/xenpt/commands.js';
export type { XenPtState, XenPtOp, DmaAccess as XenPtDmaAccess } from '../models/xenpt/types.js';
export { DOMID_IO, perDeviceScratch, quarantineModes } from '../models/xen/pci.js';
// The iommufd stacks (issue 20): iommufd over VT-d with access objects, and type1 ↔ iommufd.
export { iommufdPassthroughDesign, IOMMUFD_STACK } from '../properties/iommufd/design.js';
export type { IommufdPassthroughDesign, IommufdPassthroughDesignOptions } from '../properties/iommufd/design.js';
export { iommufdDesigns } from '../properties/iommufd/designs.js';
export { iommufdPtInvariants } from '../properties/iommufd/invariants/index.js';
export {
  type1IommufdDifferential,
  type1IommufdDifferentialDesign,
  DIFFERENTIAL_STACK as TYPE1_IOMMUFD_STACK,
} from '../properties/iommufd/differential/design.js';
export type {
  Type1IommufdDifferentialDesign,
  Type1IommufdDifferentialOptions,
} from '../properties/iommufd/differential/design.js';
export { type1IommufdDifferences } from '../properties/iommufd/differential/differences.js';
export type { DeclaredDifference, Type1IommufdPairState, VmmOp } from '../models/iommufd-pt/pair.js';
export type { IommufdPtCommand, IommufdPtState } from '../models/iommufd-pt/types.js';
export { soundIommufdHooks, defaultIommufdConfig } from '../models/iommufd/config.js';
export type { IommufdConfig, IommufdHooks } from '../models/iommufd/config.js';
export type { AccessObject, AccessPin, IommufdState } from '../models/iommufd/types.js';

export type { PciDev, QuarantineMode, QuarantineScratch } from '../models/xen/pci.js';
export { soundTeardown } from '../models/xen/destroy.js';
export type { DomainTeardownOrdering } from '../models/xen/destroy.js';
export type { TeardownStage } from '../models/xen/types.js';
export { soundGuestRemovePage, soundLifecycle as soundDomainLifecycle } from '../models/xen/config.js';
export type { DomainLifecycle, GuestRemovePageUnwind } from '../models/xen/config.js';
export type { VgpuLifecycle } from '../models/xengt/config.js';
export { xenFaultPoints } from '../models/xen/fault.js';
export type { XenFaultPoint } from '../models/xen/fault.js';
export { xenLookup, xenLookupThenMap, xenMap } from '../properties/xengt/designs.js';
export { xenGtLifecycleDesigns } from '../properties/xengt/lifecycle-designs.js';
export { xenGtGgttDesigns, xenGtShadowsHalfWrittenGgtt } from '../properties/xengt/ggtt-designs.js';
export { xenGt2mSplitErrorLeaks, xenGtHuge2mDesigns } from '../properties/xengt/huge2m-designs.js';
export type { XenGtCommandSet } from '../properties/xengt/generators.js';
export type { XenGtTemplate } from '../properties/xengt/resolve.js';
export { xenGtCommandKinds, xenGtXenCommandKinds } from '../models/xengt/commands.js';
export type { XenGtCommand, XenGtCommandKind } from '../models/xengt/commands.js';
export { xenGtBackendFeatures, xenGtBugNeeds, xenGtBugs } from '../models/xengt/config.js';
export type {
  XenGtBug,
  XenGtConfig,
  XenGtDomainDescription,
  XenGtFeature,
  XenGtWorldDescription,
} from '../models/xengt/config.js';
export {
  guestRamMfn,
  keepingMappingsAtTeardown,
  withoutPageReference,
  xenGtLookupBackend,
  xenGtMapBackend,
} from '../models/xengt/backend.js';
export type {
  XenBackendCall,
  XenGtAddressing,
  XenGtBackend,
  XenGtBackendName,
  XenGtMapPlan,
  XenGtMapRequest,
  XenGtUnmapRequest,
} from '../models/xengt/backend.js';
export type { XenGtResult, XenGtState } from '../models/xengt/types.js';
export { xenBugNeeds } from '../models/xengt/xen-bug-needs.js';
export type { XenWorldFeature } from '../models/xengt/xen-bug-needs.js';
export { xenBugs } from '../models/xen/config.js';
export type { XenBug, XenConfig } from '../models/xen/config.js';
export type { P2mEntry, XenDomain, XenState } from '../models/xen/types.js';
export { vfioBugCatalogue, vfioDesign, vfioStackOf } from '../properties/vfio/design.js';
export type { VfioDesign, VfioDesignOptions } from '../properties/vfio/design.js';
export { vfioWorldLayout, vfioWorldPresets } from '../properties/vfio/world.js';
export type {
  VfioGroupDescription,
  VfioWorld,
  VfioWorldDescription,
  VfioWorldLayout,
  VfioWorldPreset,
} from '../properties/vfio/world.js';
export { vfioInvariants } from '../properties/vfio/invariants/index.js';
export { vfioInterleavingMutants, vfioMutants } from '../properties/vfio/mutants.js';
export {
  mdevIgnoresUnmap,
  mdevUnmapCallback,
  vfioMixed,
  vfioMixedUnmapSkipsUnpin,
  vfioNoiommu,
  vfioType1,
} from '../properties/vfio/designs.js';
export {
  vfioGetInfoOverflowsArgsz,
  vfioMemoryDesigns,
  vfioUpdateVaddrWithMdev,
} from '../properties/vfio/memory-designs.js';
export { vfioExecChargeNotMoved, vfioExecDesigns, vfioExecLockedVmUnderflow } from '../properties/vfio/exec-designs.js';
export type { ExecArgs } from '../models/vfio/exec.js';
export { soundVfioHooks, vfioBugNeeds, vfioBugs } from '../models/vfio/config.js';
export type { MediatedDriverOps, VfioBug, VfioConfig, VfioHooks, VfioWorldFeature } from '../models/vfio/config.js';
export type { CheckExtensionArgs, GetInfoArgs } from '../models/vfio/query.js';
export type { VfioCommand, VfioCommandKind } from '../models/vfio/commands.js';
export type { DmaAccess, TranslationEffect, VfioResult, VfioState } from '../models/vfio/types.js';
export { mapDmaArgs } from '../models/vfio/map-dma.js';
export type { MapDmaArgs, MapDmaRequest } from '../models/vfio/map-dma.js';
export { unmapAllArgs, unmapDmaArgs } from '../models/vfio/unmap-dma.js';
export type { UnmapDmaArgs, UnmapDmaRequest } from '../models/vfio/unmap-dma.js';
export { iommuBugCatalogue, passthroughDesign, passthroughIommuFeatures } from '../properties/passthrough/design.js';
export type { PassthroughDesign, PassthroughDesignOptions } from '../properties/passthrough/design.js';
export type { PassthroughTemplate } from '../properties/passthrough/resolve.js';
export type { ResupplyVaddrTemplate, VfioCommandTemplate, VfioTemplate } from '../properties/vfio/resolve.js';
export { passthroughInvariants } from '../properties/passthrough/invariants/index.js';
export { passthroughInterleavingMutants, passthroughMutants } from '../properties/passthrough/mutants.js';
export { iommuLazy, iommuLazyHeld, iommuStrict, iommuUnpinBeforeSync } from '../properties/passthrough/designs.js';
export { invalidationModes } from '../models/passthrough/types.js';
// The group lifecycle over VT-d: the detach hook, its built-in variants, the IOMMU steps a user's
// variant is made of, the designs and the two invariants (docs/reference/vtd.md §3.10).
export {
  blockFlushingClearedDid,
  blockKeepingContext,
  blockSkippingContextCacheFlush,
  blockSkippingWriteBack,
  blockTranslation,
  soundLifecycle as soundPassthroughLifecycle,
} from '../models/passthrough/lifecycle.js';
export type { BlockTranslation, PassthroughLifecycle } from '../models/passthrough/types.js';
export type { PasidAttach, PasidTeardown, PassthroughPasid } from '../models/passthrough/types.js';
export {
  attachPasid,
  attachPasidWithoutCacheTag,
  soundPasid,
  tearDownPasid,
  tearDownSkippingPasidCache,
  tearDownSkippingWriteBack,
  tearDownWithDsiOnly,
} from '../models/passthrough/pasid.js';
export {
  iommuFirstLevelNoCacheTag,
  iommuFirstLevelPasid,
  iommuFirstLevelTeardownDsi,
  passthroughFirstLevelDesigns,
} from '../properties/passthrough/first-level-designs.js';
export { assignCacheTag, firstLevelByDefault, unassignCacheTag } from '../models/iommu/cache-tags.js';
export { flushAllTags, flushPasidBased, flushTornDownEntry } from '../models/iommu/invalidate.js';
export { setupPasidEntry } from '../models/iommu/domain.js';
export { clearPasidEntry, detachDevicePasid } from '../models/iommu/domain.js';
export { invalidatePasidCache } from '../models/iommu/pasid.js';
export type { CacheLine, WriteBackHook, WriteBackPath } from '../models/iommu/coherency.js';
export { unmapSkipsWriteBack, writeBackAll } from '../models/iommu/coherency.js';
export {
  iommuContextCacheSkipsFlush,
  iommuNoncoherent,
  iommuNoncoherentContextSkipsWriteBack,
  iommuNoncoherentPasidTeardownSkipsWriteBack,
  iommuNoncoherentUnmapSkipsWriteBack,
  passthroughCoherencyDesigns,
} from '../properties/passthrough/coherency-designs.js';
// A kdump kernel (docs/reference/vtd.md §3.14): copied context entries and their teardown order.
export {
  iommuKdumpCopiedContext,
  iommuKdumpInvalidateBeforeClear,
  passthroughKdumpDesigns,
} from '../properties/passthrough/kdump-designs.js';
export type { CopiedContextTeardown, CopiedTeardownStep } from '../models/iommu/kdump.js';
export {
  copiedContextTearDown,
  copiedTeardownStep,
  copyContextEntry,
  invalidateBeforeClear,
} from '../models/iommu/kdump.js';
export type { PassthroughKdump } from '../models/passthrough/types.js';
// The context cache (docs/reference/vtd.md §3.13.1): the steps a detach variant is made of.
export type { ContextInvalidation } from '../models/iommu/context-cache.js';
export { contextCacheLookup, invalidateContextCache } from '../models/iommu/context-cache.js';
export {
  iommuPasidTeardown,
  iommuPasidTeardownSkipsPasidCache,
  passthroughPasidDesigns,
} from '../properties/passthrough/pasid-designs.js';
export { clearContext, detachDevice } from '../models/iommu/domain.js';
export { flushDomain } from '../models/iommu/invalidate.js';
export {
  iommuContextClearFlushesClearedDid,
  iommuDetachKeepsContext,
  iommuStrictRegroup,
  twoDomainWorld,
} from '../properties/passthrough/lifecycle-designs.js';
export {
  reusedDidCarriesNoEarlierTranslations,
  unownedDeviceReachesNothing,
} from '../properties/passthrough/invariants/lifecycle.js';
export type {
  InvalidationMode,
  PassthroughCommand,
  PassthroughCommandKind,
  PassthroughConfig,
  PassthroughResult,
  PassthroughState,
} from '../models/passthrough/types.js';
export { iommuBugNeeds, iommuBugs } from '../models/iommu/config.js';
export type { IommuBug, IommuConfig, IommuStackFeature } from '../models/iommu/config.js';
export type { BugCatalogue, WorldFeatures } from '../properties/generic/bug-flags.js';
export { kvmgtBugCatalogue, kvmgtDesign, KVMGT_STACK } from '../properties/kvmgt/design.js';
export type { KvmgtDesign, KvmgtDesignOptions } from '../properties/kvmgt/design.js';
export type { KvmgtTemplate } from '../properties/kvmgt/generators.js';
export { kvmgtInvariants } from '../properties/kvmgt/invariants/index.js';
export { kvmgtInterleavingMutants, kvmgtMutants } from '../properties/kvmgt/mutants.js';
export {
  cmdbufScanInPlace,
  cmdbufScanThenCopy,
  cmdbufShadowCopy,
  gvtNoWriteProtect,
  gvtWriteProtect,
  kvmgtIgnoresUnmap,
  kvmgtShippedUnmap,
  kvmgtUnmapCallback,
  kvmgtUnmapUnderCacheLock,
  kvmgtUnmapUnlocked,
  kvmgtCacheAddErrorKeepsMap,
  kvmgtDestroyKeepsGgtt,
  kvmgtDmaMapErrorKeepsPin,
  kvmgtNoGgttReset,
  kvmgtShippedPopulateUnwind,
  kvmgtTrackAddErrorKeepsRegistration,
  kvmgt64kRemovalFirstPage,
  kvmgt64kSplitUnmasked,
  kvmgt64kSplitErrorKeepsSlots,
  kvmgt2mSizeChangeRemaps,
  kvmgt2mLookupIgnoresSize,
  kvmgt2mPinSkipsContiguity,
  kvmgt2mReleaseUnpins4k,
  kvmgtShippedFreeSkips2m,
  kvmgt2mSplitErrorLeaks,
} from '../properties/kvmgt/designs.js';
export type { KvmgtUnwindOptions } from '../properties/kvmgt/design.js';
export type { KvmgtScopePart } from '../properties/kvmgt/explore-scope.js';
export type {
  KvmgtCommand,
  KvmgtCommandKind,
  KvmgtFault,
  KvmgtFaultPoint,
  KvmgtResult,
  KvmgtState,
} from '../models/kvmgt/types.js';
export { kvmgtBugNeeds, kvmgtBugs, kvmgtWorld } from '../models/kvmgt/config.js';
export type { KvmgtBug, KvmgtConfig, KvmgtWorld, KvmgtWorldDescription } from '../models/kvmgt/config.js';
export { dropCache, releaseShadows } from '../models/kvmgt/unmap-callback.js';
export type {
  KvmgtUnmapAction,
  KvmgtUnmapCallback,
  KvmgtUnmapCallbackName,
  KvmgtUnmapRequest,
} from '../models/kvmgt/unmap-callback.js';
export { gvtBugNeeds, gvtBugs, partitionGgtt, soundGvtHooks } from '../models/gvt/config.js';
export type {
  GgttHalfWrite,
  GgttPartition,
  GvtBug,
  GvtConfig,
  GvtFeature,
  GvtHooks,
  GvtLayout,
} from '../models/gvt/config.js';
export type { DmaCacheEntry, GvtVgpu, ShadowPte } from '../models/gvt/types.js';
export { ips64kStride } from '../models/gvt/ips64k.js';
export type { FailedSplit64K, Slot64K, Split64K } from '../models/gvt/ips64k.js';
export { viommuConfig, viommuDesign, vmmBugCatalogue, VIOMMU_STACK } from '../properties/viommu/design.js';
export type {
  ViommuBugOptions,
  ViommuDesign,
  ViommuDesignOptions,
  ViommuVmmOptions,
} from '../properties/viommu/design.js';
export { viommuDifferential, viommuDifferentialDesign } from '../properties/viommu/differential/design.js';
export type {
  ViommuDifferentialDesign,
  ViommuDifferentialDesignOptions,
} from '../properties/viommu/differential/design.js';
export { shadowAndNestedAgree } from '../properties/viommu/differential/invariant.js';
export { differentialMutants, viommuMutants } from '../properties/viommu/mutants.js';
export {
  viommuNested,
  viommuNestedFlushLeavesCombined,
  viommuShadow,
  viommuShadowUnmapSkipsFlush,
  viommuShadowWaitBeforeUnmap,
  viommuContextClearKeepsShadow,
  viommuShadowSameDidSkipsSync,
  viommuNestedSameDidSkipsFlush,
  viommuTeOnKeepsNoDmar,
  viommuScalable,
  viommuPasidCacheIgnored,
  viommuPasidCacheGated,
} from '../properties/viommu/designs.js';
export {
  blockedDeviceReachesNothing,
  earlierDomainUnreachable,
  viommuInvariants,
} from '../properties/viommu/invariants.js';
export type { DriverTemplate, ViommuTemplate } from '../properties/viommu/resolve.js';
export { viommuWorldLayout } from '../properties/viommu/world.js';
export type { ViommuWorldDescription, ViommuWorldLayout } from '../properties/viommu/world.js';
export { GUEST_DID, RID_PASID, viommuModes, vmmBugNeeds, vmmBugs } from '../models/viommu/types.js';
export type {
  GuestState,
  PasidCacheEntry,
  PasidCacheGranularity,
  PasidFlush,
  PiotlbGranularity,
  ViommuCommand,
  ViommuCommandKind,
  ViommuConfig,
  ViommuMode,
  ViommuResult,
  ViommuState,
  VmmBug,
  VmmFeature,
} from '../models/viommu/types.js';
export {
  dropInvalidation,
  flushNestedOnRebind,
  flushNestedOnSwitch,
  forwardToNestedDomain,
  ignorePasidCache,
  nestedBalloon,
  nestedVmm,
  refreshAddressSpaces,
  replayGuestTable,
  replayMissingUnmaps,
  shadowBalloon,
  shadowVmm,
  skipSameDid,
  syncAddressSpace,
  syncKeepingShadowOnClear,
  syncPasidCache,
  syncPasidCacheGated,
  syncPasidCacheWith,
} from '../models/viommu/vmm-hooks.js';
export type {
  BalloonHandler,
  BalloonRequest,
  ContextHandler,
  InvalidatedRange,
  InvalidationHandler,
  PasidCacheHandler,
  PasidCacheSync,
  TranslationHandler,
  TranslationSwitch,
  TrappedContextInvalidation,
  TrappedInvalidation,
  TrappedPasidCacheInvalidation,
  VmmHooks,
  VmmRequest,
} from '../models/viommu/vmm-hooks.js';
export { shadowedEntries } from '../models/viommu/vmm.js';
export type { DriverOp, DriverOpKind } from '../models/viommu/driver.js';
export type { ViommuPairConfig, ViommuPairState } from '../models/viommu/pair.js';
export type { FirstLevelEntry } from '../models/iommu/types.js';

// The parts of the stacks' states, for invariants of your own (every state is plain data).
export type { AllocPolicy, Frame, FrameOwner, HostMemory } from '../models/memory/frames.js';
export type { ActiveEntry, DomainLife, GrantEntry, MaptrackEntry } from '../models/xen/types.js';
export type { GpuAccess, GuestPage, GuestPte, PpgttMm, Spt, SptLevel, Workload } from '../models/gvt/types.js';
export type {
  DeviceKind,
  GroupSpec,
  ProcessPage,
  Type1Backend,
  VfioContainer,
  VfioDevice,
  VfioDma,
  VfioDomain,
  VfioGroup,
  VfioParams,
  VfioPfn,
  VmmProcess,
} from '../models/vfio/types.js';
export type {
  DeviceContext,
  FlushQueueEntry,
  IommuDomain,
  IommuState,
  IotlbEntry,
  PageTableEntry,
} from '../models/iommu/types.js';
export type { CommandProblem, InFlight, InterleavingSpace } from './design.js';
export type { RunStats } from './stats.js';
/**
 * Interleavings for a stack of your own: the `advance` command, a command space's phases, an
 * advance's pick resolved against the operations in flight, and footprints built from the model
 * for the explorer's partial-order reduction.
 */
export {
  ADVANCE,
  isPhasedStart,
  MAX_IN_FLIGHT,
  phasedSpace,
  resolveAdvance,
} from '../properties/generic/interleave.js';
export type { AdvanceCommand } from '../properties/generic/interleave.js';
/**
 * Waits that never end, for a stack of your own: a refused request's `blocked` (what it waits for,
 * what it holds), the operations' holdings (`Design.holdings`), and the generic invariant
 * `no-operation-waits-forever` that tells a wait that ends from a self-deadlock or a cycle.
 */
export { deadlocks, describeCycle, waitsForever } from './waits.js';
export type { Blocked, Holding, WaitCycle } from './waits.js';
export { NO_OPERATION_WAITS_FOREVER, noOperationWaitsForever } from '../properties/generic/waits.js';
export type { WaitsView } from '../properties/generic/waits.js';
/**
 * Picks for a stack of your own: a generated field that names "the k-th live object", resolved
 * against the state when the step runs, and preferred picks that aim at the few objects a bug
 * needs (a window's commands aim with `preferredPick`, see `InterleavingSpace.windowArbitrary`).
 */
export { isPick, pickOr, resolvePick } from '../properties/pick.js';
export type { Pick, Pickable, Templated } from '../properties/pick.js';
export { PREFERRED_PICK, preferOr, preferredPick, resolvePreferring } from '../properties/prefer.js';
export { changedPaths, footprintOf } from '../properties/generic/footprint.js';
