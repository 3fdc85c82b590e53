# language: zh-TW
功能: US-002 任務取出
  作為一個 系統整合者
  我想要 從 Queue 取出待處理任務
  為了 開始任務處理流程

  場景: 依任務 ID 取出任務
    假設 Queue 中存在待處理任務
    當 我呼叫 POST /api/v1/tasks/{id}/dequeue
    那麼 系統應該從 Queue 移除任務
    而且 在資料庫建立任務記錄，狀態為 Pending

  場景: 依優先順序取出下一個任務
    假設 Queue 中依序加入優先權為 0、9、5、9 的任務
    當 我呼叫 POST /api/v1/tasks/dequeue 直到 Queue 清空
    那麼 取出的優先權順序應該是 9、9、5、0，同優先權先進先出
    而且 最後一次呼叫的回應狀態碼應該是 204
