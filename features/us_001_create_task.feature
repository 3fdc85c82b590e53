# language: zh-TW
功能: US-001 任務建立
  作為一個 後端開發者
  我想要 透過 API 建立新任務
  為了 啟動異步處理流程

  場景: 建立任務後任務進入 Queue
    假設 我有任務的基本資訊和 Callback URL
    當 我呼叫 POST /api/v1/tasks
    那麼 系統應該將任務加入 Queue 並回傳任務 ID
    而且 任務狀態為 Queued
