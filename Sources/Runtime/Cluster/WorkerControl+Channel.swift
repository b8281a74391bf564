import Training

/// The cluster's DEALER channel is where a data-parallel or pipeline worker's reports go (`WorkerReports`).
extension WorkerControl: WorkerControlChannel {}
