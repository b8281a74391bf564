/// State that lives beside the optimizer's and must survive a resume with it: the outer optimizer of local SGD,
/// for one. Its slots are saved in the checkpoint's optimizer state under names that start with `slotPrefix`, so
/// the optimizer never sees them.
public protocol CheckpointedState: AnyObject {
    var slotPrefix: String { get }
    /// The slots to save, named with `slotPrefix`: parameter-sized, or of a length `restore` checks itself.
    func checkpointSlots() -> [String: [Float]]
    /// Restores from the slots named with `slotPrefix` (every one of them, possibly none in an older checkpoint).
    func restore(slots: [String: [Float]]) throws
}
