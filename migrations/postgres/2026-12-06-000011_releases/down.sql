DROP TABLE result_releases;
