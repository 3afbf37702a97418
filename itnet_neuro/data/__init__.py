"""Datasets: the procedural street scenes, CamVid and Cityscapes loaders, and the tf.data pipeline."""
