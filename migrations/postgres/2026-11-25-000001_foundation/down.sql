DROP TABLE answers;
DROP TABLE responses;
DROP TABLE survey_versions;
DROP TABLE icss;
DROP TABLE app_settings;
