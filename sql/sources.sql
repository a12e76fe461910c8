-- sources: the module's credits and licence, which just-dna-lite's report shows
-- (report_logic.load_module_credits reads source, license, license_url, attribution,
-- notice, dataset, share_alike, commercial_use, redistribution and declared_use of the
-- rows whose layer is 'annotation'). One row per credit of module.toml ([[credits]]: the
-- curation's repository, and an upstream database where the curation derives from one),
-- each with the fetched source file's URL, SHA-256 and commit (when known).
-- Parameters: $module, $curator, $source_url, $source_sha256, $source_commit, $dataset.
-- Reads: credits (module.toml's [[credits]], registered by scripts/modules.py).
WITH source AS (
    SELECT *
    FROM credits
),

final AS (
    SELECT
        CAST($module AS VARCHAR) AS module,
        CAST(source AS VARCHAR) AS source,
        'annotation' AS layer,
        CAST(license AS VARCHAR) AS license,
        CAST(license_url AS VARCHAR) AS license_url,
        CAST(attribution AS VARCHAR) AS attribution,
        CAST(notice AS VARCHAR) AS notice,
        CAST(share_alike AS BOOLEAN) AS share_alike,
        CAST(commercial_use AS BOOLEAN) AS commercial_use,
        CAST(redistribution AS BOOLEAN) AS redistribution,
        CAST(NULL AS VARCHAR) AS declared_use,
        CAST($dataset AS VARCHAR) AS dataset,
        CAST($source_url AS VARCHAR) AS source_url,
        CAST($source_sha256 AS VARCHAR) AS source_sha256,
        CAST($source_commit AS VARCHAR) AS source_commit,
        CAST($curator AS VARCHAR) AS curator,
        CAST(citation AS VARCHAR) AS citation
    FROM source
)

SELECT * FROM final ORDER BY source
